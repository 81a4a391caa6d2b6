// The database schema as numbered migrations, applied in order at open, each in a transaction, tracked
// in PRAGMA user_version. A migration is never edited once released: a change is a new one at the end.

export const migrations: string[] = [
  // 1: the audit trail. Every command the bot receives, refused or not.
  `CREATE TABLE audit (
     id        INTEGER PRIMARY KEY,
     time      TEXT    NOT NULL,
     backend   TEXT    NOT NULL,
     identity  TEXT,
     name      TEXT    NOT NULL,
     channel   TEXT    NOT NULL,
     text      TEXT    NOT NULL,
     command   TEXT,
     outcome   TEXT    NOT NULL CHECK (outcome IN ('pending','ok','refused','rejected','failed')),
     detail    TEXT
   );
   CREATE INDEX audit_time ON audit(time);`,
  // 2: jobs, the dump catalog, and the volumes the bot restored (the only ones it may remove).
  `CREATE TABLE jobs (
     id           INTEGER PRIMARY KEY,
     kind         TEXT    NOT NULL,
     title        TEXT    NOT NULL,
     volumes      TEXT    NOT NULL,           -- JSON array: the volume locks it holds
     backend      TEXT    NOT NULL,
     identity     TEXT,
     conversation TEXT    NOT NULL,           -- JSON {id, kind}: where to report
     status       TEXT    NOT NULL CHECK (status IN ('queued','running','ok','failed','cancelled','interrupted')),
     created_at   TEXT    NOT NULL,
     started_at   TEXT,
     ended_at     TEXT,
     progress     TEXT,                       -- JSON: the latest progress snapshot
     result       TEXT,
     error        TEXT,
     leftovers    TEXT                        -- JSON array of things a crash could leave behind
   );
   CREATE INDEX jobs_status ON jobs(status);
   CREATE TABLE dumps (
     id              INTEGER PRIMARY KEY,
     volume          TEXT    NOT NULL,
     volume_id       INTEGER,                 -- the read-write volume's id
     clone_id        INTEGER,                 -- the .backup clone's id (what the dump header names)
     date            TEXT    NOT NULL,        -- YYYY.MM.DD
     level           TEXT    NOT NULL CHECK (level IN ('full','incremental')),
     kind            TEXT    NOT NULL DEFAULT 'scheduled' CHECK (kind IN ('scheduled','pre-promote','legacy','databases')),
     clone_time      INTEGER,                 -- epoch s; null for legacy archives
     base_clone_time INTEGER,                 -- incrementals: the full's clone time
     raw_bytes       INTEGER,
     stored_bytes    INTEGER NOT NULL,
     sha256          TEXT,
     location        TEXT    NOT NULL UNIQUE, -- a path in the dump store or the legacy directory
     created_at      TEXT    NOT NULL,
     job_id          INTEGER
   );
   CREATE INDEX dumps_volume ON dumps(volume, date);
   CREATE INDEX dumps_date ON dumps(date);
   CREATE TABLE restored_volumes (
     name        TEXT    PRIMARY KEY,
     volume_id   INTEGER,
     source      TEXT    NOT NULL,            -- the volume it was restored from
     date        TEXT    NOT NULL,            -- the dump date restored
     state       TEXT    NOT NULL CHECK (state IN ('restoring','restored','discarded')),
     job_id      INTEGER NOT NULL,
     created_at  TEXT    NOT NULL,
     mount_path  TEXT,
     discarded_at TEXT
   );`,
  // 3: approval requests for destructive commands, and the step journal of each promotion.
  `CREATE TABLE approvals (
     id           INTEGER PRIMARY KEY,
     command      TEXT    NOT NULL,
     args         TEXT    NOT NULL,           -- JSON: the argument tokens, validated again when it runs
     backend      TEXT    NOT NULL,
     requester    TEXT    NOT NULL,
     conversation TEXT    NOT NULL,
     plan         TEXT    NOT NULL,
     facts        TEXT    NOT NULL,           -- JSON: what the plan rests on; must still hold at approval
     required     INTEGER NOT NULL,
     approvers    TEXT    NOT NULL,           -- JSON [{backend, id, at}]
     status       TEXT    NOT NULL CHECK (status IN ('pending','approved','denied','expired','stale')),
     created_at   TEXT    NOT NULL,
     expires_at   TEXT    NOT NULL,
     decided_at   TEXT,
     decided_by   TEXT,
     reason       TEXT,                       -- a denial's reason, or the break-glass reason
     break_glass  INTEGER NOT NULL DEFAULT 0,
     job_id       INTEGER
   );
   CREATE TABLE promotions (
     id               INTEGER PRIMARY KEY,
     approval_id      INTEGER,
     volume           TEXT    NOT NULL,
     source           TEXT    NOT NULL,
     old_volume_id    INTEGER NOT NULL,
     source_volume_id INTEGER NOT NULL,
     safety_dump      TEXT,
     mounted_path     TEXT,
     step             INTEGER NOT NULL,       -- the last step completed, 0 to 5
     state            TEXT    NOT NULL CHECK (state IN ('running','interrupted','done','failed','rolled-back')),
     journal          TEXT    NOT NULL,       -- JSON [{step, event, at, detail}]
     origin           TEXT    NOT NULL,
     created_at       TEXT    NOT NULL,
     updated_at       TEXT    NOT NULL
   );`,
  // 4: one row per nightly run, with its report.
  `CREATE TABLE nightly_runs (
     id         INTEGER PRIMARY KEY,
     date       TEXT    NOT NULL,
     dry_run    INTEGER NOT NULL,
     started_at TEXT    NOT NULL,
     ended_at   TEXT,
     stats      TEXT,                         -- JSON: counts, bytes, phase durations, per-volume results
     report     TEXT
   );`,
  // 5: the archive (where each dump went in restic, and whether its local file is still there),
  // locks shared by every afsbot process on the store (the bot and backup-manager), and maintenance.
  `ALTER TABLE dumps ADD COLUMN archive_snapshot TEXT;
   ALTER TABLE dumps ADD COLUMN archive_path TEXT;
   ALTER TABLE dumps ADD COLUMN archived_at TEXT;
   ALTER TABLE dumps ADD COLUMN local INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE dumps ADD COLUMN files INTEGER;
   ALTER TABLE dumps ADD COLUMN disk_kb INTEGER;
   ALTER TABLE jobs ADD COLUMN pid INTEGER;
   ALTER TABLE nightly_runs ADD COLUMN archived_bytes INTEGER;
   CREATE TABLE locks (
     name    TEXT PRIMARY KEY,               -- a volume name, or @nightly for the archive's own jobs
     job_id  INTEGER NOT NULL,
     pid     INTEGER NOT NULL,
     since   TEXT    NOT NULL
   );
   CREATE TABLE maintenance_runs (
     id         INTEGER PRIMARY KEY,
     kind       TEXT    NOT NULL CHECK (kind IN ('forget','check','test-restore')),
     started_at TEXT    NOT NULL,
     ended_at   TEXT    NOT NULL,
     ok         INTEGER NOT NULL,
     summary    TEXT    NOT NULL
   );`,
  // 6: the outbox: every line for a chat, kept until that chat has it, so that no job ever waits for
  // chat and nothing said while a chat is down (or the bot restarts) is lost.
  `CREATE TABLE outbox (
     id           INTEGER PRIMARY KEY,
     backend      TEXT    NOT NULL,
     conversation TEXT    NOT NULL,           -- JSON Conversation
     text         TEXT    NOT NULL,
     meta         TEXT,                       -- JSON MessageMeta
     urgency      TEXT    NOT NULL CHECK (urgency IN ('reply','result','progress','report')),
     coalesce_key TEXT,                       -- a newer line with the same key replaces an unsent one
     pid          INTEGER NOT NULL,           -- the process that wrote it (a console line is only its own)
     created_at   TEXT    NOT NULL
   );
   CREATE INDEX outbox_backend ON outbox(backend, id);`,
  // 7: whether each nightly run was OK (the dead man's switch and /healthz read it), and when each
  // kind of alert was last raised, so that an alert repeats daily, not at every restart.
  `ALTER TABLE nightly_runs ADD COLUMN ok INTEGER;
   UPDATE nightly_runs SET ok = CASE WHEN report LIKE 'nightly %: OK.%' THEN 1 ELSE 0 END WHERE dry_run = 0;
   CREATE TABLE alerts (
     kind    TEXT PRIMARY KEY,
     last_at TEXT NOT NULL,
     text    TEXT NOT NULL
   );`,
  // 8: a dump whose snapshot is being forgotten is marked so first: if the bot dies during restic
  // forget, the next reconciliation finishes the forget instead of calling the dump lost.
  `ALTER TABLE dumps ADD COLUMN forgetting INTEGER NOT NULL DEFAULT 0;`,
  // 9: admins are persons: the audit and approvals record the person behind an identity, so one person
  // is never both the requester and an approver, whatever identities they use.
  `ALTER TABLE audit ADD COLUMN person TEXT;
   ALTER TABLE approvals ADD COLUMN requester_person TEXT;`,
  // 10: the file index: every path of every indexed dump, one row per version of a path (a file
  // unchanged for 30 nights is one row whose range covers them), and which dumps were indexed.
  `CREATE TABLE index_dumps (
     dump_id    INTEGER PRIMARY KEY,          -- dumps.id
     volume     TEXT    NOT NULL,
     date       TEXT    NOT NULL,
     clone_time INTEGER NOT NULL,
     paths      INTEGER NOT NULL,
     indexed_at TEXT    NOT NULL
   );
   CREATE INDEX index_dumps_volume ON index_dumps(volume, clone_time);
   CREATE TABLE file_versions (
     id           INTEGER PRIMARY KEY,
     volume       TEXT    NOT NULL,
     path         TEXT    NOT NULL,           -- from the volume's root, '' for the root itself
     name         TEXT    NOT NULL,           -- the last component
     parent_vnode INTEGER NOT NULL,           -- the directory it is named in (0 for the root)
     vnode        INTEGER NOT NULL,
     uniq         INTEGER NOT NULL,
     kind         TEXT    NOT NULL CHECK (kind IN ('file','dir','symlink')),
     size         INTEGER NOT NULL,
     data_version INTEGER NOT NULL,
     mtime        INTEGER NOT NULL,
     owner        INTEGER NOT NULL,
     grp          INTEGER NOT NULL,
     mode         INTEGER NOT NULL,
     target       TEXT,                       -- symlinks and mount points
     mount        TEXT,                       -- JSON MountPoint
     acl          TEXT,                       -- JSON, directories
     first_clone  INTEGER NOT NULL,           -- the first indexed dump that holds it
     first_date   TEXT    NOT NULL,
     last_clone   INTEGER,                    -- the last one that held it; null while it is current
     last_date    TEXT
   );
   CREATE INDEX file_versions_current ON file_versions(volume, last_clone);
   CREATE INDEX file_versions_path ON file_versions(volume, path);
   CREATE INDEX file_versions_name ON file_versions(name);`,
  // 11: restores users asked for (!request-restore): who, what, where it was put, until when.
  `CREATE TABLE restore_requests (
     id           INTEGER PRIMARY KEY,
     approval_id  INTEGER,
     backend      TEXT    NOT NULL,
     identity     TEXT    NOT NULL,
     afs_user     TEXT    NOT NULL,
     origin       TEXT    NOT NULL,           -- JSON Origin: where the user is told
     volume       TEXT    NOT NULL,
     path         TEXT    NOT NULL,
     date         TEXT    NOT NULL,
     staging      TEXT    NOT NULL,           -- the staging volume's name
     mount_path   TEXT,
     state        TEXT    NOT NULL CHECK (state IN ('restoring','ready','failed','expired')),
     job_id       INTEGER,
     created_at   TEXT    NOT NULL,
     expires_at   TEXT,
     ended_at     TEXT
   );
   CREATE INDEX restore_requests_user ON restore_requests(backend, identity, state);`,
];
