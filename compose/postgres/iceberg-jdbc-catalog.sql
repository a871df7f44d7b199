-- The tables of Iceberg's JDBC catalog (Apache Iceberg's JdbcUtil: the V0
-- catalog table plus V1's iceberg_type column, which views need; Trino's
-- default iceberg.jdbc-catalog.schema-version is V1). Trino never creates them
-- itself, so PostgreSQL runs this once, when its data volume is new.
CREATE TABLE iceberg_tables (
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name)
);

CREATE TABLE iceberg_namespace_properties (
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255),
    property_value VARCHAR(1000),
    PRIMARY KEY (catalog_name, namespace, property_key)
);
