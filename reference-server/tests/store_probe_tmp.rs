//! TEMPORARY probe (to be deleted): where catalog time goes.
use std::time::Instant;
use codeintel_server::observability::metrics::Metrics;
use codeintel_server::store::catalog::*;

fn mk(n_files: usize) -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("c.duckdb"), Metrics::noop()).unwrap();
    let text = "fn example(x: u32) -> u32 {\n    let y = x * 2;\n    y + 1\n}\n".repeat(4);
    let fs: Vec<FileRecord> = (0..n_files).map(|f| FileRecord{path: format!("src/f{f}.rs"), hash: format!("{f:064x}"), size: 10, mtime_ns: 1, language: "rust".into()}).collect();
    let cs: Vec<Vec<ChunkRecord>> = (0..n_files).map(|f| (0..10).map(|c| ChunkRecord{id: format!("{f:06}-{c:03}"), path: format!("src/f{f}.rs"), start_line: c*20+1, end_line: c*20+10, language: "rust".into(), kind: "function".into(), symbol: Some("example".into()), text: text.clone()}).collect()).collect();
    let ss: Vec<Vec<SymbolRecord>> = (0..n_files).map(|f| (0..10).map(|c| SymbolRecord{name: format!("example_{f}_{c}"), kind: "function".into(), path: format!("src/f{f}.rs"), start_line: c*20+1, end_line: c*20+10}).collect()).collect();
    let rows: Vec<FileRows<'_>> = (0..n_files).map(|i| FileRows{file:&fs[i], chunks:&cs[i], symbols:&ss[i]}).collect();
    for b in rows.chunks(1000) { cat.replace_files(b).unwrap(); }
    (dir, cat)
}

#[test]
#[ignore]
fn probe() {
    let dir = tempfile::tempdir().unwrap();
    let conn = duckdb::Connection::open(dir.path().join("p.duckdb")).unwrap();
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, path TEXT)").unwrap();
    let s = Instant::now();
    for i in 0..200 { conn.execute_batch("BEGIN TRANSACTION").unwrap(); conn.execute("INSERT INTO t VALUES (?, 'p')", [format!("x{i}")]).unwrap(); conn.execute_batch("COMMIT").unwrap(); }
    eprintln!("tx insert commit: {:?}/tx", s.elapsed()/200);
    let s = Instant::now();
    for _ in 0..200 { conn.execute_batch("BEGIN TRANSACTION").unwrap(); conn.execute_batch("COMMIT").unwrap(); }
    eprintln!("empty tx: {:?}/tx", s.elapsed()/200);
    let s = Instant::now();
    for _ in 0..200 { conn.execute("DELETE FROM t WHERE path IN (?)", ["zz"]).unwrap(); }
    eprintln!("delete autocommit nothing: {:?}", s.elapsed()/200);
    let s = Instant::now();
    for _ in 0..200 { let mut a = conn.appender("t").unwrap(); a.flush().unwrap(); }
    eprintln!("appender create+flush empty: {:?}", s.elapsed()/200);

    let (_d, cat) = mk(10_000);
    let ids: Vec<String> = (0..10).map(|i| format!("{:06}-{:03}", i * 997, i)).collect();
    let s = Instant::now();
    for _ in 0..50 { assert_eq!(cat.chunks_by_ids(&ids).unwrap().len(), 10); }
    eprintln!("chunks_by_ids IN: {:?}", s.elapsed()/50);
    let path = cat.path().to_path_buf();
    drop(cat);
    let conn = duckdb::Connection::open(&path).unwrap();
    let cols = "id, path, start_line, end_line, language, kind, symbol, text";
    let list = duckdb::types::Value::List(ids.iter().map(|i| duckdb::types::Value::Text(i.clone())).collect());
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare_cached(&format!("SELECT {cols} FROM chunks WHERE id IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")).unwrap(); let n = st.query_map(duckdb::params_from_iter(ids.iter()), |r| r.get::<_, String>(7)).unwrap().count(); assert_eq!(n, 10);}
    eprintln!("B IN cached all cols: {:?}", s.elapsed()/50);
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare_cached(&format!("SELECT {cols} FROM chunks WHERE id = ANY(?::TEXT[])")).unwrap(); let n = st.query_map([&list], |r| r.get::<_, String>(7)).unwrap().map(|r| r.unwrap()).count(); assert_eq!(n, 10);}
    eprintln!("C ANY cached all cols: {:?}", s.elapsed()/50);
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare_cached(&format!("SELECT {cols} FROM chunks WHERE id IN (SELECT unnest(?::TEXT[]))")).unwrap(); let n = st.query_map([&list], |r| r.get::<_, String>(7)).unwrap().map(|r| r.unwrap()).count(); assert_eq!(n, 10);}
    eprintln!("D IN unnest all cols: {:?}", s.elapsed()/50);
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare_cached("SELECT id FROM chunks WHERE id = ?").unwrap(); let n = st.query_map([&ids[3]], |r| r.get::<_, String>(0)).unwrap().count(); assert_eq!(n, 1);}
    eprintln!("E one point lookup id only: {:?}", s.elapsed()/50);
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare_cached("SELECT 1").unwrap(); let n = st.query_map([], |r| r.get::<_, i32>(0)).unwrap().count(); assert_eq!(n, 1);}
    eprintln!("F SELECT 1: {:?}", s.elapsed()/50);
    let lits = ids.iter().map(|i| format!("'{}'", i.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
    for round in 0..2 {
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare(&format!("SELECT {cols} FROM chunks WHERE id IN ({lits})")).unwrap(); let n = st.query_map([], |r| r.get::<_, String>(7)).unwrap().count(); assert_eq!(n, 10);}
    eprintln!("{round} G literal IN: {:?}", s.elapsed()/50);
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare(&format!("SELECT {cols} FROM chunks WHERE id IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")).unwrap(); let n = st.query_map(duckdb::params_from_iter(ids.iter()), |r| r.get::<_, String>(7)).unwrap().count(); assert_eq!(n, 10);}
    eprintln!("{round} A IN params: {:?}", s.elapsed()/50);
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare(&format!("SELECT {cols} FROM chunks WHERE id = '{}'", ids[0])).unwrap(); let n = st.query_map([], |r| r.get::<_, String>(7)).unwrap().count(); assert_eq!(n, 1);}
    eprintln!("{round} H literal eq: {:?}", s.elapsed()/50);
    let s = Instant::now();
    for _ in 0..50 { let mut st = conn.prepare(&format!("SELECT {cols} FROM chunks WHERE path = 'nope'")).unwrap(); let n = st.query_map([], |r| r.get::<_, String>(7)).unwrap().count(); assert_eq!(n, 0);}
    eprintln!("{round} I seq scan no match on path: {:?}", s.elapsed()/50);
    }
    let s = Instant::now();
    for _ in 0..20 { let mut st = conn.prepare_cached("SELECT name FROM symbols WHERE name ILIKE $1 ESCAPE '\\' ORDER BY length(name) LIMIT 10").unwrap(); let n = st.query_map(["%example\\_123%"], |r| r.get::<_, String>(0)).unwrap().count(); assert_eq!(n, 10); }
    eprintln!("symbol ilike full scan: {:?}", s.elapsed()/20);
    let s = Instant::now();
    for _ in 0..20 { let mut st = conn.prepare_cached("SELECT name FROM symbols WHERE contains(lower(name), $1) ORDER BY length(name) LIMIT 10").unwrap(); let n = st.query_map(["example_123"], |r| r.get::<_, String>(0)).unwrap().count(); assert_eq!(n, 10); }
    eprintln!("symbol contains-lower full scan: {:?}", s.elapsed()/20);
    let s = Instant::now();
    for _ in 0..20 { let mut st = conn.prepare_cached("SELECT name FROM symbols WHERE contains(name, $1) ORDER BY length(name) LIMIT 10").unwrap(); let n = st.query_map(["example_123"], |r| r.get::<_, String>(0)).unwrap().count(); assert_eq!(n, 10); }
    eprintln!("symbol contains (no lower) full scan: {:?}", s.elapsed()/20);
    let q = "SELECT name, kind, path, start_line, end_line FROM symbols WHERE contains(lower(name), $1) ORDER BY CASE WHEN name = $2 THEN 0 WHEN lower(name) = $1 THEN 1 WHEN starts_with(lower(name), $1) THEN 2 ELSE 3 END, length(name), name, path, start_line LIMIT $3";
    let s = Instant::now();
    for _ in 0..20 { let mut st = conn.prepare_cached(q).unwrap(); let n = st.query_map(duckdb::params!["example_123", "example_123", 10i64], |r| r.get::<_, String>(0)).unwrap().count(); assert_eq!(n, 10); }
    eprintln!("symbol full: {:?}", s.elapsed()/20);
    let q2 = "WITH m AS (SELECT name, kind, path, start_line, end_line, lower(name) AS l FROM symbols WHERE contains(lower(name), $1)) SELECT name, kind, path, start_line, end_line FROM m ORDER BY CASE WHEN name = $2 THEN 0 WHEN l = $1 THEN 1 WHEN starts_with(l, $1) THEN 2 ELSE 3 END, length(name), name, path, start_line LIMIT $3";
    let s = Instant::now();
    for _ in 0..20 { let mut st = conn.prepare_cached(q2).unwrap(); let n = st.query_map(duckdb::params!["example_123", "example_123", 10i64], |r| r.get::<_, String>(0)).unwrap().count(); assert_eq!(n, 10); }
    eprintln!("symbol cte: {:?}", s.elapsed()/20);
}

#[test]
#[ignore]
fn probe_refine() {
    use codeintel_server::store::dense::*;
    let (n, dim) = (5000usize, 32usize);
    let mut x: u64 = 1234;
    let mut next = || { x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5 };
    let data: Vec<f32> = (0..n*dim).map(|_| next()).collect();
    let q: Vec<f32> = (0..dim).map(|_| next()).collect();
    let ids: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let flat = DenseIndex::build(dim, ids.clone(), data.clone(), DenseKind::Flat, Metrics::noop()).unwrap();
    for (m, ef) in [(4u32, 10u32), (8, 16), (16, 16)] {
        let h = DenseIndex::build(dim, ids.clone(), data.clone(), DenseKind::Hnsw { m, ef_search: ef }, Metrics::noop()).unwrap();
        let t: Vec<String> = flat.search(&q, 10).unwrap().into_iter().map(|r| r.0).collect();
        let a: Vec<String> = h.search(&q, 10).unwrap().into_iter().map(|r| r.0).collect();
        let a40: Vec<(String, f32)> = h.search(&q, 40).unwrap();
        let r: Vec<String> = h.search_with_refine(&q, 10, 4).unwrap().into_iter().map(|r| r.0).collect();
        eprintln!("m={m} ef={ef}\n truth {t:?}\n ann {a:?}\n ann40 {:?}\n ref {r:?}", &a40[..12]);
    }
}
