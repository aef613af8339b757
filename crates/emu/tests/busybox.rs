//! Acceptance tests: Debian's static busybox (`/bin/busybox`, package busybox-static) runs
//! its applets natively and under `emu`, as `busybox APPLET args...`, with the same argv,
//! environment, stdin and working directory; stdout, stderr, exit status and the files left
//! behind must be identical. Each side starts from the same fixture files (fixed contents and
//! modification times, so archives compare byte for byte), including a 4 MiB generated text
//! for gzip, sort and the checksums. Skipped with a note when `/bin/busybox` is absent.
//!
//! See `common/mod.rs` for `EMU_TEST_FILTER`, `EMU_TEST_RUNNER` and `EMU_TEST_TIMEOUT`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use common::{check_all, reset_dir, scratch, selected, set_mtime, Expect, Invocation};

const BUSYBOX: &str = "/bin/busybox";

/// Modification time of every fixture file and directory.
fn fixed_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A deterministic generator for fixture data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

const WORDS: &[&str] = &[
    "lorem", "ipsum", "dolor", "sit", "amet", "emu", "guest", "host", "block", "cache", "x86",
    "page", "fault", "signal", "thread", "futex", "the", "quick", "brown", "fox", "jumps", "over",
    "lazy", "dog", "Zebra", "apple", "Banana",
];

/// About 4 MiB of text lines: words and numbers, compressible like real text.
fn big_text() -> Vec<u8> {
    let mut rng = Lcg(42);
    let mut out = Vec::with_capacity(4 << 20);
    let mut line = 0u64;
    while out.len() < 4 << 20 {
        line += 1;
        out.extend_from_slice(format!("{line:07} ").as_bytes());
        let n = 3 + rng.next() % 10;
        for i in 0..n {
            if i > 0 {
                out.push(b' ');
            }
            if rng.next() % 5 == 0 {
                out.extend_from_slice((rng.next() % 100_000).to_string().as_bytes());
            } else {
                out.extend_from_slice(WORDS[(rng.next() % WORDS.len() as u64) as usize].as_bytes());
            }
        }
        out.push(b'\n');
    }
    out
}

const TEXT: &str = "\
The quick brown fox jumps over the lazy dog.
the rain in Spain stays mainly in the plain
Pack my box with five dozen liquor jugs.
apple
banana
Apple
cherry
banana
apple
  leading spaces
trailing spaces   
tab\tseparated\tfields
a line with numbers 12 34 56
UPPER CASE LINE
mixed Case Line
42
-7
3.14
the end
";

fn nums() -> String {
    let mut rng = Lcg(7);
    (0..300)
        .map(|_| format!("{}\n", rng.next() as i64 % 2000 - 1000))
        .collect()
}

const CSV: &str = "\
name,score,city
alice,90,paris
bob,72,berlin
carol,85,paris
dave,72,rome
eve,100,berlin
frank,64,oslo
grace,85,rome
";

/// Writes the master copy of the fixtures once per test process: small texts, the big text,
/// its gzip (made by the native busybox), a directory tree and a tar (and .tar.gz) of it.
fn master() -> &'static Path {
    static MASTER: OnceLock<PathBuf> = OnceLock::new();
    MASTER.get_or_init(|| {
        let dir = scratch("busybox-fixtures").join(format!("master-{}", std::process::id()));
        reset_dir(&dir);
        let write = |name: &str, data: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        };
        write("text.txt", TEXT.as_bytes());
        write("nums.txt", nums().as_bytes());
        write("csv.txt", CSV.as_bytes());
        let mut sorted: Vec<&str> = TEXT.lines().collect();
        sorted.sort_unstable();
        write("sorted.txt", (sorted.join("\n") + "\n").as_bytes());
        write("big.txt", &big_text());
        std::fs::create_dir_all(dir.join("tree/sub/empty")).expect("mkdir tree");
        std::fs::create_dir_all(dir.join("extract")).expect("mkdir extract");
        write("tree/a.txt", b"first file\n");
        write(
            "tree/b.bin",
            &(0..=255u8).cycle().take(5000).collect::<Vec<u8>>(),
        );
        write("tree/sub/c.txt", TEXT.as_bytes());
        touch_tree(&dir);
        native_busybox(&dir, &["gzip", "-c", "big.txt"], "big.txt.gz");
        native_busybox(&dir, &["tar", "cf", "-", "tree"], "tree.tar");
        native_busybox(&dir, &["gzip", "-c", "tree.tar"], "tree.tar.gz");
        touch_tree(&dir);
        dir
    })
}

/// Runs the native busybox in `dir` with its stdout going to `dir/out`.
fn native_busybox(dir: &Path, args: &[&str], out: &str) {
    let o = Command::new(BUSYBOX)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {BUSYBOX}: {e}"));
    assert!(o.status.success(), "busybox {args:?} failed: {o:?}");
    std::fs::write(dir.join(out), o.stdout).expect("write fixture");
}

/// Sets every modification time under `dir` (contents first, then directories).
fn touch_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if e.file_type().expect("file type").is_dir() {
            touch_tree(&p);
        } else {
            set_mtime(&p, fixed_time());
        }
    }
    set_mtime(dir, fixed_time());
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|err| panic!("copy {}: {err}", src.display()));
        }
    }
}

/// Fills a fresh working directory with the fixtures.
fn populate(cwd: &Path) {
    copy_tree(master(), cwd);
    touch_tree(cwd);
}

/// One busybox invocation: applet arguments and stdin.
struct Run {
    args: &'static [&'static str],
    stdin: &'static str,
    /// When set, both sides' stdout must also equal this fixture file.
    stdout_is: Option<&'static str>,
}

const fn run(args: &'static [&'static str]) -> Run {
    Run {
        args,
        stdin: "",
        stdout_is: None,
    }
}

const fn run_in(args: &'static [&'static str], stdin: &'static str) -> Run {
    Run {
        args,
        stdin,
        stdout_is: None,
    }
}

/// Runs each invocation natively and under emu in `target/tmp/busybox-run/<test>/`.
fn check_busybox(test: &str, runs: &[Run]) {
    let test = format!("busybox::{test}");
    if !selected(&test) {
        return;
    }
    if !Path::new(BUSYBOX).exists() {
        eprintln!("note: {BUSYBOX} not found: skipping {test} (apt-get install busybox-static)");
        return;
    }
    let cwd = scratch("busybox-run").join(&test["busybox::".len()..]);
    let invs: Vec<(Invocation, Expect)> = runs
        .iter()
        .map(|r| {
            let inv = Invocation {
                program: PathBuf::from(BUSYBOX),
                args: r.args.iter().map(Into::into).collect(),
                stdin: r.stdin.as_bytes().to_vec(),
                cwd: cwd.clone(),
            };
            (inv, Expect::Same)
        })
        .collect();
    let outcomes = check_all(&test, &invs, &populate);

    // Outputs that must also equal a known file (e.g. a decompressed archive); emu's output
    // already had to equal the native one.
    for (r, (native, _)) in runs.iter().zip(&outcomes) {
        if let Some(file) = r.stdout_is {
            let want = std::fs::read(master().join(file)).expect("fixture");
            assert!(
                native.stdout == want,
                "{test}: busybox {:?} does not reproduce {file}",
                r.args
            );
        }
    }
}

#[test]
fn echo() {
    check_busybox(
        "echo",
        &[
            run(&["echo", "hello", "world"]),
            run(&["echo", "-n", "no newline"]),
            run(&["echo", "-e", "tab\\there\\nnew line \\x41\\0101 \\\\"]),
            run(&["echo", "", "  spaced  ", "ünïcödé"]),
        ],
    );
}

#[test]
fn cat() {
    check_busybox(
        "cat",
        &[
            run(&["cat", "text.txt", "csv.txt"]),
            run_in(&["cat"], "from stdin\nsecond line without newline"),
            run_in(&["cat", "-n", "text.txt", "-", "csv.txt"], "middle\n"),
            run(&["cat", "big.txt"]),
            run(&["cat", "missing.txt"]),
        ],
    );
}

#[test]
fn seq() {
    check_busybox(
        "seq",
        &[
            run(&["seq", "10"]),
            run(&["seq", "-s", ",", "5", "-1", "-5"]),
            run(&["seq", "0.5", "0.25", "3"]),
            run(&["seq", "-w", "8", "12"]),
            run(&["seq", "1", "100000"]),
        ],
    );
}

#[test]
fn wc() {
    check_busybox(
        "wc",
        &[
            run(&["wc", "text.txt", "csv.txt"]),
            run(&["wc", "-l", "big.txt"]),
            run(&["wc", "-c", "-w", "big.txt"]),
            run_in(&["wc"], "one two\nthree\n"),
        ],
    );
}

#[test]
fn sort() {
    check_busybox(
        "sort",
        &[
            run(&["sort", "text.txt"]),
            run(&["sort", "-n", "nums.txt"]),
            run(&["sort", "-rn", "nums.txt"]),
            run(&["sort", "-u", "-f", "text.txt"]),
            run(&["sort", "-t", ",", "-k2,2n", "-k1,1r", "csv.txt"]),
            run(&["sort", "-k3", "big.txt"]),
        ],
    );
}

#[test]
fn uniq() {
    check_busybox(
        "uniq",
        &[
            run(&["uniq", "sorted.txt"]),
            run(&["uniq", "-c", "sorted.txt"]),
            run(&["uniq", "-d", "sorted.txt"]),
            run(&["uniq", "-u", "-i", "sorted.txt"]),
        ],
    );
}

#[test]
fn md5sum() {
    check_busybox(
        "md5sum",
        &[
            run(&["md5sum", "text.txt", "big.txt", "big.txt.gz"]),
            run_in(&["md5sum"], "abc"),
            run(&["md5sum", "missing.txt"]),
        ],
    );
}

#[test]
fn sha256sum() {
    check_busybox(
        "sha256sum",
        &[
            run(&["sha256sum", "text.txt", "big.txt", "tree.tar"]),
            run_in(&["sha256sum"], ""),
        ],
    );
}

#[test]
fn gzip() {
    check_busybox(
        "gzip",
        &[
            run(&["gzip", "-c", "big.txt"]),
            run(&["gzip", "-c", "-1", "text.txt"]),
            run(&["gzip", "-9", "csv.txt"]),
            Run {
                args: &["gunzip", "-c", "big.txt.gz"],
                stdin: "",
                stdout_is: Some("big.txt"),
            },
            run(&["gunzip", "-f", "big.txt.gz"]),
            run(&["gunzip", "-t", "text.txt"]),
        ],
    );
}

#[test]
fn tar() {
    check_busybox(
        "tar",
        &[
            run(&["tar", "cf", "-", "tree"]),
            run(&["tar", "cf", "out.tar", "tree", "text.txt"]),
            run(&["tar", "tf", "tree.tar"]),
            run(&["tar", "tvf", "tree.tar"]),
            run(&["tar", "xf", "tree.tar", "-C", "extract"]),
            // Decompression forks a child that unpacks in-process; `tar czf` is not tested
            // because busybox execs the host's (dynamically linked) gzip for it.
            run(&["tar", "tzf", "tree.tar.gz"]),
            run(&["tar", "xzf", "tree.tar.gz", "-C", "extract"]),
        ],
    );
}

/// `tar xzf` forks a child to decompress while the parent's compiler thread tiers its hot
/// blocks up: a fork while that thread entered or left its wait once left the child's
/// compiler thread a half-updated lock table (a crash in about one run in twelve).
#[test]
fn tar_forks_while_the_compiler_thread_waits() {
    let runs: Vec<Run> =
        std::iter::repeat_with(|| run(&["tar", "xzf", "tree.tar.gz", "-C", "extract"]))
            .take(40)
            .collect();
    check_busybox("tar_forks", &runs);
}

#[test]
fn sed() {
    check_busybox(
        "sed",
        &[
            run(&["sed", "-e", "s/o/0/g", "text.txt"]),
            run(&["sed", "-n", "/[Ff]ox/p;/^[0-9]/p", "text.txt"]),
            run(&["sed", "-E", "s/([a-z]+) ([a-z]+)/\\2 \\1/", "text.txt"]),
            run(&["sed", "2,5d;s/-/minus /", "nums.txt"]),
            run(&["sed", "$!N;s/\\n/ + /", "text.txt"]),
            run(&["sed", "-n", "$=", "big.txt"]),
        ],
    );
}

#[test]
fn awk() {
    check_busybox(
        "awk",
        &[
            run(&["awk", "-F,", "NR>1 {s+=$2; n++} END {print n, s, s/n}", "csv.txt"]),
            run(&[
                "awk",
                "BEGIN { for (i = 1; i <= 12; i++) printf \"%d %.6f %e %g %x\\n\", i, i / 7, i * 1e10 / 3, 1 / i, i * 4095 }",
            ]),
            run(&["awk", "{ print length($0), toupper($1), NF }", "text.txt"]),
            run(&["awk", "{ c[$2]++ } END { n = 0; for (k in c) n++; print n, c[\"emu\"] }", "big.txt"]),
            run(&["awk", "BEGIN { x = 9007199254740993; printf \"%d %s %.17g %d\\n\", x, 1/3, 0.1 + 0.2, int(-7.5) }"]),
        ],
    );
}

#[test]
fn grep() {
    check_busybox(
        "grep",
        &[
            run(&["grep", "-n", "fox", "text.txt"]),
            run(&["grep", "-c", "-i", "THE", "text.txt"]),
            run(&["grep", "-v", "-E", "^-?[0-9]+$", "text.txt"]),
            run(&["grep", "-o", "[0-9][0-9]*", "csv.txt"]),
            run(&["grep", "nomatch", "text.txt"]),
            run(&["grep", "-c", "emu", "big.txt"]),
            run(&["grep", "-r", "-l", "line", "tree"]),
        ],
    );
}

#[test]
fn expr() {
    check_busybox(
        "expr",
        &[
            run(&["expr", "3", "+", "4"]),
            run(&["expr", "-10", "/", "3", "*", "7", "%", "5"]),
            run(&["expr", "length", "hello"]),
            run(&["expr", "0"]),
            run(&["expr", "abcdef", ":", "a\\(..\\)"]),
            run(&["expr", "9223372036854775807", "+", "0"]),
            run(&["expr", "1", "/", "0"]),
            run(&["expr", "b", "<", "a"]),
        ],
    );
}

#[test]
fn sh() {
    check_busybox(
        "sh",
        &[
            run(&[
                "sh",
                "-c",
                "for i in $(seq 1 50); do echo $i; done | sort -n | tail -3",
            ]),
            run(&[
                "sh",
                "-c",
                "x=0; while [ $x -lt 300 ]; do x=$((x + 1)); done; echo $x",
            ]),
            run(&["sh", "-c", "echo out; echo err >&2; exit 7"]),
            run(&[
                "sh",
                "-c",
                "f() { echo \"arg:$1\"; return 3; }; f hello; echo rc=$?; echo ${#PATH} $HOME",
            ]),
            run(&["sh", "-c", "cat text.txt | grep -c the; echo status $?"]),
            run(&[
                "sh",
                "-c",
                "gzip -c big.txt | gunzip -c | md5sum; md5sum < big.txt",
            ]),
            run_in(
                &[
                    "sh",
                    "-c",
                    "read a b; echo \"b=$b a=$a\"; case $a in h*) echo starts with h;; esac",
                ],
                "hello big world\n",
            ),
            run(&["sh", "-c", "kill -TERM $$; echo not reached"]),
        ],
    );
}
