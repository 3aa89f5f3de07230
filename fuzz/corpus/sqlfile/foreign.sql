--liquibase formatted sql
--changeset a:1
-- atlas:txmode none
--bun:split
--! Previous: sha1:x
select {{ .x }};
