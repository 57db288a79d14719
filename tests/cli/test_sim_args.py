"""Bad input to `dposweep sim`: every case gets exit code 2 and one line on
stderr that names the flag; good input gets the documented CSV.

Run: test_sim_args.py PATH/TO/dposweep
"""
import subprocess
import sys

BIN = sys.argv[1]
OK = ["--regime", "uniform", "--arms", "3", "--beta", "1", "--iterations", "2"]


def with_(**kw):
    """OK arguments with some flags replaced (None removes the flag)."""
    args = dict(zip(OK[0::2], OK[1::2]))
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        if v is None:
            args.pop(flag, None)
        else:
            args[flag] = v
    out = []
    for k, v in args.items():
        out += [k, v]
    return out


# (arguments, the flag the message must name, a word it must contain)
BAD = [
    (with_(regime="foo"), "--regime", "foo"),
    (with_(regime=None), "--regime", "required"),
    (with_(arms="1"), "--arms", "between 2"),
    (with_(arms="0"), "--arms", "between 2"),
    (with_(arms="-3"), "--arms", "between 2"),
    (with_(arms="x"), "--arms", "not an integer"),
    (with_(arms=None), "--arms", "required"),
    (with_(beta="0"), "--beta", "> 0"),
    (with_(beta="-1"), "--beta", "> 0"),
    (with_(beta="nan"), "--beta", "finite"),
    (with_(beta="inf"), "--beta", "finite"),
    (with_(beta="high"), "--beta", "not a number"),
    (with_(sigma="-0.1"), "--sigma", ">= 0"),
    (with_(sigma="nan"), "--sigma", "finite"),
    (with_(samples="-1"), "--samples", "between 0"),
    (with_(sigma="0.1", samples="5"), "--samples", "sigma"),
    (with_(iterations="0"), "--iterations", "between 1"),
    (with_(iterations="-5"), "--iterations", "between 1"),
    (with_(eta="0"), "--eta", "> 0"),
    (with_(eta="-2"), "--eta", "> 0"),
    (with_(eta="fast"), "--eta", "not a number"),
    (with_(eta="theory", scale="normalized"), "--eta", "theory"),
    (with_(scale="normalized"), "--eta", "required"),
    (with_(scale="weird"), "--scale", "weird"),
    (with_(arms=None, rewards="0.1,abc,0.3"), "--rewards", "abc"),
    (with_(arms=None, rewards="0.1,nan"), "--rewards", "not finite"),
    (with_(arms=None, rewards="0.1,inf"), "--rewards", "not finite"),
    (with_(arms=None, rewards="0.1,-inf,3"), "--rewards", "not finite"),
    (with_(arms=None, rewards="0.1,,0.3"), "--rewards", "not a number"),
    (with_(arms=None, rewards="0.5"), "--rewards", "between 2"),
    (with_(arms="4", rewards="0.1,0.2,0.3"), "--arms", "--rewards"),
    (with_(arms=None, rewards="0,800"), "--rewards", "700"),
    (with_(seed="-1"), "--seed", "integer"),
    (with_(master_seed="x"), "--master-seed", "integer"),
    (with_(every="0"), "--every", "between 1"),
    (OK + ["--bogus"], "--bogus", "unknown option"),
    (OK + ["extra"], "extra", "unexpected"),
    (OK[:-1], "--iterations", "needs a value"),
]

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


for args, flag, word in BAD:
    p = subprocess.run([BIN, "sim"] + args, capture_output=True, text=True)
    err = p.stderr.strip()
    what = f"{' '.join(args)!r}: rc={p.returncode} stderr={err!r}"
    check(p.returncode == 2, "exit code 2 for " + what)
    check(len(err.splitlines()) == 1, "one line for " + what)
    check(err.startswith(f"dposweep sim: {flag}:"), f"names {flag}: " + what)
    check(word in err, f"mentions {word!r}: " + what)
    check(p.stdout == "", "nothing on stdout for " + what)

# Good input: the CSV header, 17 significant digits, T + 1 rows.
p = subprocess.run([BIN, "sim"] + with_(iterations="5"), capture_output=True,
                   text=True)
check(p.returncode == 0, f"good run exits 0: {p.stderr}")
lines = p.stdout.splitlines()
check(lines[0].startswith("t,max_abs_delta,mean_abs_delta,value_gap"),
      "CSV header")
check(len(lines) == 7, f"7 lines for 5 iterations, got {len(lines)}")
first = lines[1].split(",")
check(first[0] == "0", "first row is t = 0")
# printf's %.17g: 17 significant digits, trailing zeros dropped, so every
# value reads back to the same double.
for v in first[1:] + lines[-1].split(",")[1:]:
    check("%.17g" % float(v) == v, f"17 significant digits: {v}")
# --every with explicit rewards and without --arms.
p = subprocess.run([BIN, "sim", "--regime", "mix-r", "--beta", "0.5",
                    "--iterations", "10", "--every", "4",
                    "--rewards", "0.1,0.7,0.3"], capture_output=True, text=True)
check(p.returncode == 0, "explicit rewards run")
check([l.split(",")[0] for l in p.stdout.splitlines()[1:]] == ["0", "4", "8", "10"],
      "records every 4 and the last step: " + p.stdout)

# --help documents every flag.
p = subprocess.run([BIN, "sim", "--help"], capture_output=True, text=True)
check(p.returncode == 0, "--help exits 0")
for flag in ["--regime", "--arms", "--beta", "--sigma", "--samples",
             "--iterations", "--eta", "--scale", "--rewards", "--seed",
             "--master-seed", "--every", "--help"]:
    check(flag in p.stdout, f"--help documents {flag}")

print(f"{len(BAD)} bad-input cases; {failures} failures")
sys.exit(1 if failures else 0)
