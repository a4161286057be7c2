//! Where a cold open of a 100k-task space spends its time.
use std::sync::Arc;
use std::time::Instant;

use dxos_echo::tasks::task_query;
use dxos_echo::{Echo, Task};

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("cold.redb");
    let id = {
        let echo = Echo::open(Arc::new(redb::Database::create(&path).unwrap_or_else(|e| panic!("{e}"))))
            .unwrap_or_else(|e| panic!("{e}"));
        let s = echo.create_space(dxos_halo::KeyPair::generate().public(), "cold").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..100_000 {
            s.add_typed(&Task { title: format!("Task {i}"), completed: false, order: Some(format!("a{i}")) })
                .unwrap_or_else(|e| panic!("{e}"));
        }
        s.id()
    };
    for _ in 0..3 {
        let t = Instant::now();
        let db = Arc::new(redb::Database::create(&path).unwrap_or_else(|e| panic!("{e}")));
        let t_db = t.elapsed();
        let echo = Echo::open(db).unwrap_or_else(|e| panic!("{e}"));
        let t_echo = t.elapsed();
        let s = echo.space(&id).unwrap_or_else(|e| panic!("{e}"));
        let t_space = t.elapsed();
        let loading = s.is_loading();
        let first = s.query_ids(&task_query().limit(50));
        let t_query = t.elapsed();
        let t3 = Instant::now();
        let again = s.query_ids(&task_query().limit(50));
        let t_again = t3.elapsed();
        let t4 = Instant::now();
        let ids = s.query_ids(&dxos_echo::Query::typename("dxos.org/type/Task"));
        println!(
            "  again {t_again:?} ({}) unordered-all {:?} ({}), loading now {}",
            again.len(),
            t4.elapsed(),
            ids.len(),
            s.is_loading()
        );
        println!(
            "db {t_db:?} echo {t_echo:?} space {t_space:?} (loading: {loading}) first query {t_query:?} ({} ids)",
            first.len()
        );
        let t2 = Instant::now();
        drop(s);
        drop(echo);
        std::thread::sleep(std::time::Duration::from_millis(800));
        println!("  drop {:?}", t2.elapsed());
    }
}
