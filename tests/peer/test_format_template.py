"""Peer test: ModelCheckpoint file name templates are formatted as Python's str.format formats
them (Keras calls filepath.format(epoch=epoch + 1, **logs)).

Every case is formatted by Python itself here and by savepoint's src/ckpt/template.c through
tests/peer/helpers/format_template; the two must agree character for character, and a
template Python refuses (ValueError, KeyError) must be refused too.
"""
import math
import os
import subprocess
import sys

VALUES = {
    "epoch": 7, "batch": 123, "big": 1234567, "negative": -255,
    "loss": 0.2987000048160553, "val_loss": 0.32410001754760742, "accuracy": 0.9375,
    "tiny": 0.0001234, "huge": 1e16, "whole": 100.0, "minus": -1234.5, "zero": 0.0, "negzero": -0.0,
    "infinite": math.inf, "nan": math.nan, "mid": 1234567.891,
}

TEMPLATES = [
    "weights-{epoch:02d}-{val_loss:.4f}.keras", "ckpt-{epoch}", "{loss}", "{val_loss}", "{accuracy:.2%}",
    "{epoch:03d}_{batch:05d}", "{big:,}", "{big:_}", "{big:_x}", "{big:#_b}", "{negative:#x}", "{negative:X}",
    "{negative:+d}", "{epoch:+}", "{epoch: d}", "{epoch:<5}|", "{epoch:^7}|", "{epoch:*>6}", "{epoch:=+8}",
    "{epoch:08,}", "{big:010,}", "{big:09,}", "{big:012_}", "{epoch:.2f}", "{epoch:e}", "{epoch:g}", "{epoch:%}",
    "{loss:e}", "{loss:E}", "{loss:.3e}", "{loss:g}", "{loss:.3g}", "{loss:G}", "{loss:.10}", "{loss:.3}",
    "{whole:.3}", "{whole:}", "{whole:g}", "{whole:#g}", "{whole:#.3g}", "{whole:.0f}", "{whole:#.0f}",
    "{huge}", "{huge:.20}", "{huge:f}", "{huge:,.1f}", "{tiny}", "{tiny:.2}", "{tiny:f}", "{tiny:.2e}",
    "{minus}", "{minus:010.2f}", "{minus:011,.2f}", "{minus:+.1f}", "{minus:=12.3f}", "{minus:x^12.1f}",
    "{zero:e}", "{zero:.3g}", "{negzero}", "{negzero:.1f}", "{negzero:z.1f}", "{negzero:+}",
    "{infinite}", "{infinite:f}", "{infinite:F}", "{infinite:+.2e}", "{infinite:010}", "{nan}", "{nan:08.2f}",
    "{nan:+}", "{mid:,}", "{mid:,g}", "{mid:,.2e}", "{mid:n}", "{mid:.2%}", "{loss!r}", "{loss!s:>25}",
    "{epoch!r:>4}", "{loss!s:.4}", "{{literal}} {epoch}", "a}}b{{c", "{loss:12.4f}|", "{loss:<12.4f}|",
    "{loss:\u00b7^13.3f}",
    # refused by Python too
    "{missing}", "{loss:d}", "{epoch:.3}", "{epoch:s}", "{0}", "{}", "{epoch[0]}",
    "{loss:.}", "oops}", "{epoch", "{loss!x}", "{epoch:zd}",
    "{whole:.1}", "{epoch:.1}", "{minus:.2}", "{big:.3e}", "{mid:.12}", "{tiny:#.3}",
]

# Python accepts these, savepoint refuses them on purpose (template.h): they must fail clearly.
UNSUPPORTED = ["{loss.real}", "{epoch:{width}}"]


def python_format(template):
    try:
        return template.format(**VALUES)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        return None


def main():
    helper = os.path.join(os.environ["SP_BINARY_DIR"], "tests", "peer-helpers", "format_template")
    arguments = ["%s=%s" % (name, ("i:%d" % value) if isinstance(value, int) else ("f:" + float.hex(value)))
                 for name, value in VALUES.items()]
    failures = 0
    for template in TEMPLATES:
        expected = python_format(template)
        result = subprocess.run([helper, template] + arguments, capture_output=True, text=True)
        actual = result.stdout[:-1] if result.returncode == 0 else None
        if actual != expected:
            failures += 1
            print("MISMATCH %r: python %r, savepoint %r %s" % (template, expected, actual, result.stderr.strip()))
    for template in UNSUPPORTED:
        result = subprocess.run([helper, template] + arguments, capture_output=True, text=True)
        if result.returncode == 0 or "not supported" not in result.stderr:
            failures += 1
            print("NOT REFUSED %r: %r %r" % (template, result.stdout, result.stderr))
    print("%d templates, %d mismatches" % (len(TEMPLATES), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
