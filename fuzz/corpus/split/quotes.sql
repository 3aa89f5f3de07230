select E'a\';b'
'\'';' as x; select 'a\'; /* /* ; */ */ -- c
select U&"a;" from "x""y";
