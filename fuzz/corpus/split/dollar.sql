SELECT 1;
select $a$ ; $b$ ; $b$ $a$;
