COPY t (a, b) FROM stdin;
1	2
\.
\restrict abc
BEGIN;
\unrestrict abc
