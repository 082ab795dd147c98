//! Phase timings for one `cloud check` on an exported estate: the generic path (read+JSON, load,
//! evaluate, drop) and the fast path (read+load, evaluate).
//! Usage: `time_aws DIR SRC DST PORT`.
#![allow(missing_docs, clippy::unwrap_used)]
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let t = Instant::now();
    let docs = netdiag_cloud::doc::load(&[a[0].clone().into()]).unwrap();
    let t1 = t.elapsed();
    let estate = netdiag_cloud::aws::load(&docs).unwrap();
    let t2 = t.elapsed();
    let q = netdiag_cloud::flow::Query::parse(&a[1], &a[2], &a[3], "tcp").unwrap();
    let d = estate.diagnose(&q).unwrap();
    let t3 = t.elapsed();
    drop(docs);
    let t4 = t.elapsed();
    drop(estate);
    let t5 = t.elapsed();
    println!(
        "generic: read+json {t1:?} load {:?} evaluate {:?} drop docs {:?} drop estate {:?} allowed={}",
        t2 - t1,
        t3 - t2,
        t4 - t3,
        t5 - t4,
        d.evaluation.verdict.allowed
    );
    let t = Instant::now();
    let files = netdiag_cloud::doc::files(&[a[0].clone().into()]).unwrap();
    let fast = netdiag_cloud::aws::fast::load_files(&files).unwrap();
    let t1 = t.elapsed();
    let d = fast.diagnose(&q).unwrap();
    let t2 = t.elapsed();
    println!(
        "fast: read+load {t1:?} evaluate {:?} allowed={}",
        t2 - t1,
        d.evaluation.verdict.allowed
    );
}
