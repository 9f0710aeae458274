-- AWSS3 demo (run by scripts/demo.sh / `make demo`): a MariaDB table whose rows are
-- objects in an S3 bucket. demo.sh has created the bucket awss3-demo on a local moto
-- server and set the server's awss3_endpoint / credentials to it.
CREATE DATABASE IF NOT EXISTS awss3_demo;
USE awss3_demo;
DROP TABLE IF EXISTS s3demo, customers;

-- One row = one object under s3://awss3-demo/demo/: s3id is the object key (after the
-- prefix), s3val the object body, byte for byte. The key column compares bytes (*_bin).
CREATE TABLE s3demo (
  s3id VARCHAR(255) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  s3val BLOB
) ENGINE=AWSS3 CONNECTION='s3://awss3-demo/demo/';

INSERT INTO s3demo VALUES
  ('alice', 'likes MariaDB'),
  ('bob',   'keeps his rows in S3'),
  ('carol', '{"plan": "pro"}');

SELECT * FROM s3demo;
SELECT s3val FROM s3demo WHERE s3id = 'bob';

-- A local InnoDB table joined with the S3-backed one.
CREATE TABLE customers (
  name VARCHAR(255) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  city VARCHAR(64)
) ENGINE=InnoDB;
INSERT INTO customers VALUES ('alice', 'Lisbon'), ('bob', 'Oslo'), ('dave', 'Paris');

SELECT c.name, c.city, s.s3val
  FROM customers c JOIN s3demo s ON s.s3id = c.name
  ORDER BY c.name;

-- Writes go straight to S3.
UPDATE s3demo SET s3val = 'likes MariaDB and S3' WHERE s3id = 'alice';
INSERT INTO s3demo VALUES ('dave', 'new here');
SELECT * FROM s3demo;

-- Requests the engine made so far.
SHOW STATUS LIKE 'Awss3%';
