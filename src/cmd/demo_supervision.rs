//! `stripecast demo-supervision`: builds a small supervision tree, crashes
//! children on purpose and shows the restarts and an escalation, so a newcomer
//! can see the OTP rules at work in a few seconds.

use std::time::Duration;

use actix::prelude::*;
use stripecast_supervisors::{
    ChildContext, ChildSpec, ExitReason, Restart, Strategy, Supervisor, SupervisorSpec,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How long to let the tree run before shutting it down.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
}

/// A worker that panics after `crash_after` (or never).
struct Worker {
    name: &'static str,
    crash_after: Option<Duration>,
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        println!("  [{}] started", self.name);
        if let Some(after) = self.crash_after {
            ctx.run_later(after, |act, _| panic!("{} crashes on purpose", act.name));
        }
    }
}

fn worker(name: &'static str, crash_after: Option<Duration>) -> ChildSpec {
    ChildSpec::new(name, move |_: &ChildContext| Worker { name, crash_after })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.to_string();
        if msg.contains("on purpose") {
            println!("  !! panic: {}", msg.lines().last().unwrap_or(&msg));
        } else {
            default_hook(info);
        }
    }));
    actix::System::new().block_on(async move {
        // "jobs" tolerates 2 restarts per second; its job crashes every 300 ms,
        // so it gives up and escalates to "root", whose one_for_one restarts it.
        let jobs = SupervisorSpec::new("jobs", Strategy::OneForOne)
            .intensity(2, Duration::from_secs(1))
            .child(worker("bad-job", Some(Duration::from_millis(300))));
        let root = SupervisorSpec::new("root", Strategy::OneForOne)
            .intensity(10, Duration::from_secs(10))
            .child(worker("steady", None))
            .child(worker("flaky", Some(Duration::from_millis(700))).restart(Restart::Transient))
            .child(ChildSpec::supervisor(jobs));
        println!("starting the tree");
        let tree = Supervisor::start(root).await;
        println!("{}", tree.tree().await?);
        let mut left = args.seconds * 10;
        while left > 0 {
            actix_rt::time::sleep(Duration::from_millis(100)).await;
            left -= 1;
            if !tree.pid.is_alive() {
                break;
            }
        }
        println!("after {} s:", args.seconds);
        println!("{}", tree.tree().await?);
        for c in tree.which_children().await? {
            println!(
                "  {:10} {:8} restarts {}",
                c.id,
                c.status.to_string(),
                c.restarts
            );
        }
        let reason = tree.shutdown().await;
        println!("tree stopped: {reason}");
        anyhow::ensure!(reason == ExitReason::Shutdown, "tree ended with {reason}");
        Ok(())
    })
}
