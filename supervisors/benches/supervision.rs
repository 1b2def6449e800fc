//! Supervision costs, against plain actix measured in the same run:
//! * restart latency: from a panic in a handler to the new incarnation answering;
//! * message throughput: request/response to a supervised actor vs a bare one.

use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use stripecast_supervisors::{ChildContext, ChildSpec, Strategy, Supervisor, SupervisorSpec};

struct Echo(u64);
impl Actor for Echo {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Ping;
impl Handler<Ping> for Echo {
    type Result = u64;
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> u64 {
        self.0 += 1;
        self.0
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Crash;
impl Handler<Crash> for Echo {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("bench crash on purpose");
    }
}

fn bench(c: &mut Criterion) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("on purpose") {
            default(info);
        }
    }));
    let sys = actix::System::new();

    let mut g = c.benchmark_group("message_roundtrip");
    g.bench_function("bare_actix", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let addr = Echo(0).start();
                let t = Instant::now();
                for _ in 0..iters {
                    let _ = addr.send(Ping).await;
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("supervised", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let (spec, r) = ChildSpec::new_with_ref("echo", |_: &ChildContext| Echo(0));
                let sup =
                    Supervisor::start(SupervisorSpec::new("root", Strategy::OneForOne).child(spec))
                        .await;
                let addr = r.addr().expect("started");
                let t = Instant::now();
                for _ in 0..iters {
                    let _ = addr.send(Ping).await;
                }
                let e = t.elapsed();
                sup.shutdown().await;
                e
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("restart");
    g.bench_function("crash_to_answering", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let (spec, r) = ChildSpec::new_with_ref("echo", |_: &ChildContext| Echo(0));
                let sup = Supervisor::start(
                    SupervisorSpec::new("root", Strategy::OneForOne)
                        .intensity(u32::MAX, Duration::from_secs(1))
                        .child(spec),
                )
                .await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let old = r.pid().expect("started");
                    let addr = r.addr().expect("started");
                    let t = Instant::now();
                    addr.do_send(Crash);
                    loop {
                        match r.live_addr() {
                            Some(a) if r.pid().as_ref() != Some(&old) => {
                                if a.send(Ping).await.is_ok() {
                                    break;
                                }
                            }
                            _ => actix_rt::task::yield_now().await,
                        }
                    }
                    total += t.elapsed();
                }
                sup.shutdown().await;
                total
            })
        })
    });
    g.bench_function("bare_actix_start_to_answering", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    let a = Echo(0).start();
                    let _ = a.send(Ping).await;
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
