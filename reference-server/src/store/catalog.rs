//! Catalog store: a DuckDB file holding what was indexed.
//!
//! Tables:
//! - `files(path PK, hash, size, mtime_ns, language)`: one row per indexed
//!   file, for incremental re-indexing (hash check on stat change);
//! - `chunks(id PK, path, start_line, end_line, language, kind, symbol NULL,
//!   text, content_hash)`: what search hydrates; `content_hash`
//!   ([`crate::text::content_hash`] of `text`, computed here on insert) keys
//!   the dense vectors, so an incremental build reuses a moved chunk's vector;
//! - `symbols(name, kind, path, start_line, end_line)`: symbol lookup;
//! - `meta(key PK, value)`: index metadata (dense status, embed model,
//!   dimension, built_at, …) and the catalog's own schema version.
//!
//! A `Catalog` owns a small pool of DuckDB connections to one database:
//! each call checks a connection out (cloning a new one with
//! `Connection::try_clone` when none is idle) and returns it after, so
//! concurrent readers never queue on one lock. `Catalog` is `Send + Sync`.
//!
//! Every DuckDB statement is timed into `duckdb_execute_seconds`
//! ([`Metrics::time_duckdb`]); an appender run (all rows of one table in one
//! write) counts as one statement.
//!
//! One process should hold at most one writable `Catalog` per file; any
//! number of read-only ones ([`Catalog::open_read_only`]) may share a file
//! nobody writes (a published index version).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use duckdb::types::Value;
use duckdb::{AccessMode, Config, Connection, params};

use crate::observability::metrics::Metrics;

/// Version of the table layout; a catalog with another version is refused.
///
/// Version 2 added `chunks.content_hash` (incremental builds key vectors by
/// content); a version-1 catalog is refused here, and a build over a
/// version-1 index rebuilds from scratch (see `index::build`).
pub const SCHEMA_VERSION: &str = "2";
/// `meta` key holding [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_KEY: &str = "catalog.schema_version";

/// Idle connections kept for reuse; more are closed when returned.
const MAX_IDLE: usize = 16;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    language TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    language TEXT NOT NULL,
    kind TEXT NOT NULL,
    symbol TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS symbols (
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

const CHUNK_COLUMNS: &str = "id, path, start_line, end_line, language, kind, symbol, text";

/// One indexed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// Content hash (hex).
    pub hash: String,
    /// Bytes (BIGINT, as the walker reports it).
    pub size: i64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub language: String,
}

/// One chunk of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRecord {
    pub id: String,
    pub path: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    /// 1-based, inclusive.
    pub end_line: u32,
    pub language: String,
    pub kind: String,
    pub symbol: Option<String>,
    pub text: String,
}

/// One symbol definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolRecord {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
}

/// A chunk's id, path and content hash (see [`Catalog::chunk_hashes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHash {
    pub id: String,
    pub path: String,
    pub content_hash: String,
}

/// Row counts of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CatalogStats {
    pub files: u64,
    pub chunks: u64,
    pub symbols: u64,
}

/// The new rows of one file, for [`Catalog::replace_files`].
#[derive(Debug, Clone, Copy)]
pub struct FileRows<'a> {
    pub file: &'a FileRecord,
    pub chunks: &'a [ChunkRecord],
    pub symbols: &'a [SymbolRecord],
}

/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "catalog {}: cannot open: {source}; is another `codeintel-server index` writing it? \
         Otherwise re-run `codeintel-server index` to rebuild it",
        path.display()
    )]
    Open {
        path: PathBuf,
        #[source]
        source: duckdb::Error,
    },
    #[error("catalog {}: no catalog file there; run `codeintel-server index` first", path.display())]
    Missing { path: PathBuf },
    #[error("catalog {}: cannot create its directory: {source}; check the data directory's permissions", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog {}: cannot {op}: {source}; re-run `codeintel-server index` if the catalog is damaged", path.display())]
    Db {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: duckdb::Error,
    },
    #[error(
        "catalog {}: schema version {found}, this server reads version {SCHEMA_VERSION}; \
         re-run `codeintel-server index` to rebuild it",
        path.display()
    )]
    SchemaVersion { path: PathBuf, found: String },
    #[error("catalog {}: opened read-only, cannot {op}; open it with `Catalog::open` to write", path.display())]
    ReadOnly { path: PathBuf, op: &'static str },
}

/// A DuckDB catalog with a pool of connections. `Send + Sync`.
pub struct Catalog {
    path: PathBuf,
    read_only: bool,
    /// Only ever cloned from.
    template: Mutex<Connection>,
    idle: Mutex<Vec<Connection>>,
    metrics: Metrics,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

fn map_chunk(row: &duckdb::Row<'_>) -> duckdb::Result<ChunkRecord> {
    Ok(ChunkRecord {
        id: row.get(0)?,
        path: row.get(1)?,
        start_line: row.get(2)?,
        end_line: row.get(3)?,
        language: row.get(4)?,
        kind: row.get(5)?,
        symbol: row.get(6)?,
        text: row.get(7)?,
    })
}

fn map_symbol(row: &duckdb::Row<'_>) -> duckdb::Result<SymbolRecord> {
    Ok(SymbolRecord {
        name: row.get(0)?,
        kind: row.get(1)?,
        path: row.get(2)?,
        start_line: row.get(3)?,
        end_line: row.get(4)?,
    })
}

/// A `TEXT[]` parameter value.
fn text_list<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    Value::List(items.map(|s| Value::Text(s.to_owned())).collect())
}

impl Catalog {
    /// Creates the catalog file (and its directory) if missing, and its
    /// tables if missing; opens it read-write.
    pub fn create(path: &Path, metrics: Metrics) -> Result<Catalog, CatalogError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| CatalogError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| CatalogError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let catalog = Self::with_connection(path, conn, false, metrics);
        catalog.with_conn(|conn| {
            catalog
                .metrics
                .time_duckdb(|| conn.execute_batch(SCHEMA))
                .map_err(catalog.db("create the tables"))
        })?;
        match catalog.get_meta(SCHEMA_VERSION_KEY)? {
            None => catalog.set_meta(SCHEMA_VERSION_KEY, SCHEMA_VERSION)?,
            Some(v) if v == SCHEMA_VERSION => {}
            Some(found) => {
                return Err(CatalogError::SchemaVersion {
                    path: path.to_path_buf(),
                    found,
                });
            }
        }
        Ok(catalog)
    }

    /// Opens an existing catalog read-write.
    pub fn open(path: &Path, metrics: Metrics) -> Result<Catalog, CatalogError> {
        Self::open_existing(path, false, metrics)
    }

    /// Opens an existing catalog read-only (DuckDB `READ_ONLY` access mode):
    /// several read-only catalogs, in this process or others, may share the
    /// file as long as nobody opens it read-write. Writes fail with
    /// [`CatalogError::ReadOnly`].
    pub fn open_read_only(path: &Path, metrics: Metrics) -> Result<Catalog, CatalogError> {
        Self::open_existing(path, true, metrics)
    }

    fn open_existing(
        path: &Path,
        read_only: bool,
        metrics: Metrics,
    ) -> Result<Catalog, CatalogError> {
        if !path.is_file() {
            return Err(CatalogError::Missing {
                path: path.to_path_buf(),
            });
        }
        let open_err = |source| CatalogError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = if read_only {
            let config = Config::default()
                .access_mode(AccessMode::ReadOnly)
                .map_err(open_err)?;
            Connection::open_with_flags(path, config)
        } else {
            Connection::open(path)
        }
        .map_err(open_err)?;
        let catalog = Self::with_connection(path, conn, read_only, metrics);
        let version = catalog.get_meta(SCHEMA_VERSION_KEY).map_err(|e| match e {
            CatalogError::Db { .. } => CatalogError::SchemaVersion {
                path: path.to_path_buf(),
                found: "none (not a codeintel catalog)".to_owned(),
            },
            other => other,
        })?;
        match version {
            Some(v) if v == SCHEMA_VERSION => Ok(catalog),
            found => Err(CatalogError::SchemaVersion {
                path: path.to_path_buf(),
                found: found.unwrap_or_else(|| "none".to_owned()),
            }),
        }
    }

    fn with_connection(
        path: &Path,
        conn: Connection,
        read_only: bool,
        metrics: Metrics,
    ) -> Catalog {
        Catalog {
            path: path.to_path_buf(),
            read_only,
            template: Mutex::new(conn),
            idle: Mutex::new(Vec::new()),
            metrics,
        }
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when opened with [`Catalog::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Runs `f` on a connection checked out of the pool (a new clone when
    /// none is idle), then returns the connection to the pool.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match reused {
            Some(c) => c,
            None => self
                .template
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_clone()
                .map_err(self.db("open another connection"))?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        out
    }

    /// Runs one timed statement (or appender run) on a pooled connection.
    fn timed<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> duckdb::Result<T>,
    ) -> Result<T, CatalogError> {
        self.with_conn(|conn| self.metrics.time_duckdb(|| f(conn)).map_err(self.db(op)))
    }

    fn db(&self, op: &'static str) -> impl FnOnce(duckdb::Error) -> CatalogError + use<> {
        let path = self.path.clone();
        move |source| CatalogError::Db { path, op, source }
    }

    fn writable(&self, op: &'static str) -> Result<(), CatalogError> {
        if self.read_only {
            Err(CatalogError::ReadOnly {
                path: self.path.clone(),
                op,
            })
        } else {
            Ok(())
        }
    }

    /// Every indexed file by path.
    pub fn files(&self) -> Result<HashMap<String, FileRecord>, CatalogError> {
        let rows = self.timed("read the files table", |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT path, hash, size, mtime_ns, language FROM files")?;
            let rows = stmt.query_map([], |row| {
                Ok(FileRecord {
                    path: row.get(0)?,
                    hash: row.get(1)?,
                    size: row.get(2)?,
                    mtime_ns: row.get(3)?,
                    language: row.get(4)?,
                })
            })?;
            rows.collect::<duckdb::Result<Vec<_>>>()
        })?;
        Ok(rows.into_iter().map(|f| (f.path.clone(), f)).collect())
    }

    /// Replaces everything known about one file (its row, chunks and
    /// symbols) in one transaction.
    pub fn replace_file(
        &self,
        file: &FileRecord,
        chunks: &[ChunkRecord],
        symbols: &[SymbolRecord],
    ) -> Result<(), CatalogError> {
        self.replace_files(&[FileRows {
            file,
            chunks,
            symbols,
        }])
    }

    /// Replaces many files in one transaction: deletes their old rows, then
    /// appends the new ones with DuckDB appenders (one per table). This is
    /// the fast path for bulk indexing; all or nothing.
    pub fn replace_files(&self, files: &[FileRows<'_>]) -> Result<(), CatalogError> {
        self.writable("replace files")?;
        if files.is_empty() {
            return Ok(());
        }
        let paths: Vec<&str> = files.iter().map(|f| f.file.path.as_str()).collect();

        self.with_conn(|conn| {
            // Rolls back on drop unless committed.
            let tx = self
                .metrics
                .time_duckdb(|| conn.unchecked_transaction())
                .map_err(self.db("begin a transaction"))?;
            self.delete_paths_in(&tx, &paths)?;
            self.metrics
                .time_duckdb(|| -> duckdb::Result<()> {
                    let mut app = tx.appender("files")?;
                    for f in files.iter().map(|f| f.file) {
                        app.append_row(params![f.path, f.hash, f.size, f.mtime_ns, f.language])?;
                    }
                    app.flush()
                })
                .map_err(self.db("insert file rows"))?;
            self.metrics
                .time_duckdb(|| -> duckdb::Result<()> {
                    let mut app = tx.appender("chunks")?;
                    for c in files.iter().flat_map(|f| f.chunks) {
                        app.append_row(params![
                            c.id,
                            c.path,
                            c.start_line,
                            c.end_line,
                            c.language,
                            c.kind,
                            c.symbol,
                            c.text,
                            crate::text::content_hash(&c.text)
                        ])?;
                    }
                    app.flush()
                })
                .map_err(self.db("insert chunk rows (is a chunk id used twice?)"))?;
            self.metrics
                .time_duckdb(|| -> duckdb::Result<()> {
                    let mut app = tx.appender("symbols")?;
                    for s in files.iter().flat_map(|f| f.symbols) {
                        app.append_row(params![s.name, s.kind, s.path, s.start_line, s.end_line])?;
                    }
                    app.flush()
                })
                .map_err(self.db("insert symbol rows"))?;
            self.metrics
                .time_duckdb(|| tx.commit())
                .map_err(self.db("commit"))
        })
    }

    /// Deletes a file's rows (file, chunks, symbols).
    pub fn delete_path(&self, path: &str) -> Result<(), CatalogError> {
        self.delete_paths(&[path])
    }

    /// Deletes the rows of many files in one transaction.
    pub fn delete_paths(&self, paths: &[&str]) -> Result<(), CatalogError> {
        self.writable("delete files")?;
        if paths.is_empty() {
            return Ok(());
        }
        self.with_conn(|conn| {
            let tx = self
                .metrics
                .time_duckdb(|| conn.unchecked_transaction())
                .map_err(self.db("begin a transaction"))?;
            self.delete_paths_in(&tx, paths)?;
            self.metrics
                .time_duckdb(|| tx.commit())
                .map_err(self.db("commit"))
        })
    }

    fn delete_paths_in(&self, conn: &Connection, paths: &[&str]) -> Result<(), CatalogError> {
        let list = text_list(paths.iter().copied());
        for sql in [
            "DELETE FROM symbols WHERE path = ANY(?::TEXT[])",
            "DELETE FROM chunks WHERE path = ANY(?::TEXT[])",
            "DELETE FROM files WHERE path = ANY(?::TEXT[])",
        ] {
            self.metrics
                .time_duckdb(|| conn.prepare_cached(sql)?.execute([&list]))
                .map_err(self.db("delete old rows"))?;
        }
        Ok(())
    }

    /// The chunks with these ids, in the order given; unknown ids are
    /// skipped, a repeated id is returned once (first position).
    pub fn chunks_by_ids(&self, ids: &[String]) -> Result<Vec<ChunkRecord>, CatalogError> {
        let mut seen = HashSet::with_capacity(ids.len());
        let unique: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        // One cached statement whatever the number of ids (a list
        // parameter), so hydration pays no parse/plan per call.
        let list = text_list(unique.iter().copied());
        let rows = self.timed("read chunks by id", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CHUNK_COLUMNS} FROM chunks WHERE id = ANY(?::TEXT[])"
            ))?;
            let rows = stmt.query_map([&list], map_chunk)?;
            rows.collect::<duckdb::Result<Vec<_>>>()
        })?;
        let mut found: HashMap<String, ChunkRecord> =
            rows.into_iter().map(|c| (c.id.clone(), c)).collect();
        Ok(unique
            .into_iter()
            .filter_map(|id| found.remove(id))
            .collect())
    }

    /// The chunks of one file, by start line.
    pub fn chunks_for_path(&self, path: &str) -> Result<Vec<ChunkRecord>, CatalogError> {
        self.timed("read the chunks of a file", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CHUNK_COLUMNS} FROM chunks WHERE path = ? \
                 ORDER BY start_line, end_line, id"
            ))?;
            let rows = stmt.query_map([path], map_chunk)?;
            rows.collect()
        })
    }

    /// `(id, content_hash)` of every chunk (no text): what an incremental
    /// build compares with the previous version's vectors.
    pub fn chunk_hashes(&self) -> Result<Vec<ChunkHash>, CatalogError> {
        self.timed("read chunk hashes", |conn| {
            let mut stmt = conn.prepare("SELECT id, path, content_hash FROM chunks")?;
            let rows = stmt.query_map([], |row| {
                Ok(ChunkHash {
                    id: row.get(0)?,
                    path: row.get(1)?,
                    content_hash: row.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Every chunk, ordered by path then start line (for rebuilding the
    /// sparse index). Holds them all in memory; see
    /// [`Catalog::for_each_chunk`] to stream.
    pub fn all_chunks(&self) -> Result<Vec<ChunkRecord>, CatalogError> {
        let mut out = Vec::new();
        self.for_each_chunk(|c| out.push(c))?;
        Ok(out)
    }

    /// Streams every chunk, ordered by path then start line, to `f` (one
    /// statement; a connection is held until the end).
    pub fn for_each_chunk(&self, mut f: impl FnMut(ChunkRecord)) -> Result<(), CatalogError> {
        self.timed("read all chunks", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {CHUNK_COLUMNS} FROM chunks ORDER BY path, start_line, end_line, id"
            ))?;
            let rows = stmt.query_map([], map_chunk)?;
            for row in rows {
                f(row?);
            }
            Ok(())
        })
    }

    /// Symbols whose name contains `pattern` (case-insensitive), best first:
    /// exact (same case), exact (any case), prefix, then substring matches;
    /// within a group shorter names first, then by name, path and line. A
    /// blank pattern or `limit == 0` gives nothing.
    pub fn symbol_search(
        &self,
        pattern: &str,
        limit: usize,
    ) -> Result<Vec<SymbolRecord>, CatalogError> {
        let pattern = pattern.trim();
        if pattern.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let lower = pattern.to_lowercase();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.timed("search symbols", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, kind, path, start_line, end_line FROM symbols \
                 WHERE contains(lower(name), $1) \
                 ORDER BY CASE \
                     WHEN name = $2 THEN 0 \
                     WHEN lower(name) = $1 THEN 1 \
                     WHEN starts_with(lower(name), $1) THEN 2 \
                     ELSE 3 END, \
                   length(name), name, path, start_line \
                 LIMIT $3",
            )?;
            let rows = stmt.query_map(params![lower, pattern, limit], map_symbol)?;
            rows.collect()
        })
    }

    /// Sets a metadata value (insert or replace).
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), CatalogError> {
        self.writable("set metadata")?;
        self.timed("write metadata", |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [key, value],
            )
        })?;
        Ok(())
    }

    /// A metadata value, if set.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, CatalogError> {
        self.timed("read metadata", |conn| {
            let mut stmt = conn.prepare_cached("SELECT value FROM meta WHERE key = ?")?;
            let mut rows = stmt.query_map([key], |row| row.get::<_, String>(0))?;
            rows.next().transpose()
        })
    }

    /// Every metadata entry.
    pub fn all_meta(&self) -> Result<HashMap<String, String>, CatalogError> {
        let rows = self.timed("read metadata", |conn| {
            let mut stmt = conn.prepare_cached("SELECT key, value FROM meta")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<duckdb::Result<Vec<(String, String)>>>()
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Row counts.
    pub fn stats(&self) -> Result<CatalogStats, CatalogError> {
        self.timed("count rows", |conn| {
            conn.query_row(
                "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM chunks), \
                 (SELECT count(*) FROM symbols)",
                [],
                |row| {
                    Ok(CatalogStats {
                        files: row.get(0)?,
                        chunks: row.get(1)?,
                        symbols: row.get(2)?,
                    })
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Catalog>();
    }

    #[test]
    fn text_list_is_a_list_of_text_values() {
        let v = text_list(["a", "b"].into_iter());
        assert_eq!(
            v,
            Value::List(vec![Value::Text("a".into()), Value::Text("b".into())])
        );
    }
}
