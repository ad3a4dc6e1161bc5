//! scratch: echo + forwarder for manual overhead experiments (not committed)
use std::time::Duration;
fn main() {
    let echo = dualrpc_bench::overhead::Echo::start(2, Duration::ZERO).unwrap();
    let a = echo.addrs()[0];
    let f = dualrpc_bench::overhead::Forwarder::start(a).unwrap();
    println!(
        "echo {} {} fwd {}",
        echo.addrs()[0],
        echo.addrs()[1],
        f.url()
    );
    std::thread::sleep(Duration::from_secs(3600));
}
