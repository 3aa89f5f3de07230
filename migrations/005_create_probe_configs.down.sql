DROP TABLE probe_configs;
