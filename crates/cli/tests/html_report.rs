//! The HTML report of a real run, opened in headless Chromium: the page
//! loads with no console errors, every chart's SVG is present and
//! non-empty, and a screenshot is taken (kept when ISOBENCH_SCREENSHOT is set).

mod common;

use std::path::Path;
use std::process::Command;

use common::run;

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
}

fn chromium_flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]
    .into_iter()
    .map(str::to_string)
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

#[test]
fn html_report_of_a_real_run_renders_in_chromium() {
    common::require_agent_and_assets();
    let Some(browser) = chromium() else {
        isobench_testkit::skip!(
            "Debian's chromium is not installed (scripts/install-deps.sh --tests installs it)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let envs = if nix::unistd::geteuid().is_root() {
        "native,oci-runc"
    } else {
        "native"
    };
    let ran = run(&[
        "run",
        "--offline",
        "--env",
        envs,
        "--workload",
        "knn",
        "--iterations",
        "15",
        "--warmup",
        "2",
        "--repetitions",
        "2",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        ran.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    isobench_testkit::exercised_by(
        &isobench_results::ResultsFile::load(&out.join("results.json")).unwrap(),
    );
    // Regenerate from the saved results, as a user would.
    std::fs::remove_file(out.join("report.html")).unwrap();
    let report = run(&["report", out.join("results.json").to_str().unwrap()]);
    assert!(
        report.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    let html = out.join("report.html");
    let text = std::fs::read_to_string(&html).unwrap();
    for forbidden in ["<script src", "<link ", "@import", "url(http"] {
        assert!(
            !text.contains(forbidden),
            "report references external resources: {forbidden}"
        );
    }

    let profile = dir.path().join("profile");
    let url = format!("file://{}", html.display());
    let dom = Command::new(browser)
        .args(chromium_flags(&profile))
        .args(["--dump-dom", &url])
        .output()
        .expect("running chromium");
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let stderr = String::from_utf8_lossy(&dom.stderr);
    let console_errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Failed to load"))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let figures: Vec<&str> = dom.split("<figure class=\"chart\"").skip(1).collect();
    assert!(
        figures.len() >= 5,
        "expected the report's charts, found {}",
        figures.len()
    );
    for figure in &figures {
        let figure = &figure[..figure.find("</figure>").expect("closed figure")];
        let svg = &figure[figure.find("<svg").expect("an svg in every chart")..];
        let drawn = ["<rect", "<line", "<polyline", "<circle", "<path"]
            .iter()
            .map(|t| svg.matches(t).count())
            .sum::<usize>();
        assert!(
            drawn > 5,
            "an empty chart: {}",
            &figure[..figure.len().min(200)]
        );
    }
    for id in [
        "latency-inference",
        "mean-sd",
        "start-time",
        "cpu-over-time",
        "memory",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "chart {id} missing");
    }

    let shot = std::env::var_os("ISOBENCH_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("report.png"));
    let screenshot = Command::new(browser)
        .args(chromium_flags(&profile))
        .args([
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,3600",
            &url,
        ])
        .output()
        .expect("running chromium");
    assert!(
        screenshot.status.success(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot is not a rendered page ({} bytes)",
        png.len()
    );
}
