"""Embed a text file in C: embed.py INPUT OUTPUT.c FUNCTION

Writes `const char *FUNCTION(void)` returning the file's text, so the
default sweep spec lives in one place (jobs/paper.yaml).
"""
import sys

src, dst, func = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src, "rb").read()
with open(dst, "w") as out:
    out.write("/* Generated from %s by tools/embed.py; do not edit. */\n" % src.split("/")[-1])
    out.write('#include "dposweep/spec.h"\n\n')
    out.write("static const char text[] = {\n")
    for i in range(0, len(data), 16):
        out.write("  " + ", ".join(str(b) for b in data[i:i + 16]) + ",\n")
    out.write("  0};\n\n")
    out.write("const char *%s(void) { return text; }\n" % func)
