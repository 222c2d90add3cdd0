-- SecureJeebs database schema (MariaDB >= 10.6 / MySQL >= 8.0).
--
-- The primary writes one sealed KEX record per key exchange (DESIGN §3.1) as
-- user sj_primary, which may only INSERT into kex_record. The appliance
-- (user sj_appliance) reads the records, deletes them when their session
-- closes and once they are older than records.retention (they hold each
-- session's K and H), and keeps its per-connection checkpoints in
-- session_checkpoint (DESIGN §3.2). The grants, once the users exist:
--
--   GRANT INSERT ON securejeebs.kex_record TO 'sj_primary'@'%';
--   GRANT SELECT, DELETE ON securejeebs.kex_record TO 'sj_appliance'@'%';
--   GRANT SELECT, INSERT, UPDATE, DELETE ON securejeebs.session_checkpoint TO 'sj_appliance'@'%';
--
-- Idempotent: loading it again leaves existing tables and rows alone.

CREATE DATABASE IF NOT EXISTS securejeebs
    CHARACTER SET utf8mb4
    COLLATE utf8mb4_general_ci;

USE securejeebs;

CREATE TABLE IF NOT EXISTS kex_record (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT
                      COMMENT 'Surrogate key',
    primary_id        VARCHAR(64)     NOT NULL
                      COMMENT 'Which primary exported the record (its configured id)',
    client_addr       VARCHAR(45)     NOT NULL
                      COMMENT 'Client IP address as text (IPv4 or IPv6)',
    client_port       INT             NOT NULL
                      COMMENT 'Client TCP port',
    server_addr       VARCHAR(45)     NOT NULL
                      COMMENT 'Server IP address the client connected to (the VIP)',
    server_port       INT             NOT NULL
                      COMMENT 'Server TCP port (22)',
    session_id_digest BINARY(32)      NOT NULL
                      COMMENT 'SHA-256 of the SSH session id: lets the appliance find records without the primary revealing the session id',
    ordinal           INT             NOT NULL
                      COMMENT 'Key exchange number within the session: 0 = initial KEX, 1.. = rekeys',
    sealed            MEDIUMBLOB      NOT NULL
                      COMMENT 'The sealed KEX record (HPKE to the appliance, signed by the primary, digest-bound)',
    created_at        TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                      COMMENT 'When the row was written (server clock)',
    PRIMARY KEY (id),
    UNIQUE KEY uk_kex_session_ordinal (session_id_digest, ordinal),
    KEY ix_kex_four_tuple (client_addr, client_port, server_addr, server_port),
    KEY ix_kex_created (primary_id, created_at)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COMMENT = 'Sealed key-exchange records exported by the primary (insert-only for sj_primary)';

CREATE TABLE IF NOT EXISTS session_checkpoint (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT
                COMMENT 'Surrogate key',
    conn_key    VARCHAR(128)    NOT NULL
                COMMENT 'The tracked connection''s 4-tuple as text, e.g. 10.213.0.10:40022->10.213.0.100:22',
    state       MEDIUMBLOB      NULL
                COMMENT 'Serialized tracker state (TCP, SSH, replay log) of the connection',
    updated_at  TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
                COMMENT 'Last time the checkpoint was written',
    recoverable BOOLEAN         NOT NULL DEFAULT TRUE
                COMMENT 'FALSE once the session can no longer be recovered (e.g. capture loss)',
    reason      VARCHAR(255)    NULL
                COMMENT 'Why the session is unrecoverable (NULL while recoverable)',
    PRIMARY KEY (id),
    UNIQUE KEY uk_checkpoint_conn (conn_key)
) ENGINE = InnoDB
  DEFAULT CHARSET = utf8mb4
  COMMENT = 'The appliance''s checkpoints of tracked connections, so a restarted appliance can resume';
