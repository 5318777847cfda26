"""MultiPL-E's languages: how a program is put together, compiled, run and judged in each.

The seven languages of the Qwen2.5-Coder kit's evaluator (``multiple-eval/human_eval``: cpp, cs,
java, js, php, sh, ts) use its commands and pass rules, so that its published verdicts replay
task by task; the others use MultiPL-E's own evaluators (``eval_<lang>.py``). A language whose
tests assert through output (C#'s trace listener, JavaScript in the kit, Racket's rackunit,
Scala, Perl) says so in ``passes``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

# How a run that ended is judged, beside its exit status:
#   "exit": status 0 passes;
#   "silent": status 0 and nothing on stdout or stderr (the kit's JavaScript rule: node prints a failed assert);
#   "quiet": status 0 and nothing on stderr (rackunit and Scala report failures there and exit 0);
#   "no_fail": status 0 and no "Fail" on stderr (C#: Debug.Assert writes to the trace listener, then goes on);
#   "no_error": status 0 and no "ERROR" in the output (MultiPL-E's Perl rule).
PassRule = Literal["exit", "silent", "quiet", "no_fail", "no_error"]

# what the kit puts before a C++ and a C# program (its IMPORT_HELPER)
CPP_INCLUDES = (
    "#include<stdlib.h>",
    "#include<algorithm>",
    "#include<math.h>",
    "#include<stdio.h>",
    "#include<vector>",
    "#include<string>",
    "#include<climits>",
    "#include<cstring>",
    "#include<iostream>",
    "#include<cassert>",
)
CS_USINGS = (
    "using System.Numerics;",
    "using System.Diagnostics;",
    "using System.Collections.Generic;",
    "using System.Linq;",
    "using System.Text;",
    "using System.Security.Cryptography;",
    "using System.Collections.Generic;",
)
JAVATUPLES = "javatuples-1.2.jar"  # the Java tests import org.javatuples (bundled in datasets/data)


@dataclass(frozen=True)
class Language:
    """One language: its data file, the file its program is written to, and the shell commands
    that compile it (none for an interpreter) and run it, in the job's directory. ``tools`` are
    the programs those commands need, ``packages`` the Debian packages that install them (none:
    Debian has none; ``install`` says where to get it)."""

    name: str  # as --language and the data file name it: "java", "cs-bu"
    title: str
    source: str  # "Problem.java"
    run: str
    tools: tuple[str, ...]
    packages: tuple[str, ...]
    compile: str = ""
    passes: PassRule = "exit"
    syntax_errors: tuple[str, ...] = ()  # output of an interpreter that did not get to run the program
    timeouts: tuple[str, ...] = ()  # output of a runner that stopped the program at its own limit
    prelude: tuple[str, ...] = ()  # lines put before every program (the kit's C++ includes, C# usings)
    opening: str = ""  # put before a program that does not start with it (PHP's "<?php")
    closing: str = ""  # put after the tests (the kit closes PHP's tag)
    env: tuple[tuple[str, str], ...] = ()
    retry: str = ""  # compile command of a second try when the first did not pass (the kit's TypeScript)
    install: str = ""  # where to get a toolchain Debian does not package
    trivial: str = ""  # the least program its tests make: what the toolchain is checked and timed with
    readable: tuple[str, ...] = ()  # paths (globs) outside /usr its tools read: their configuration in /etc
    support: tuple[str, ...] = ()  # bundled files put in the job's directory (the javatuples jar)
    closed_by_tests: bool = False  # the tests begin by closing the prompt's function ("}")

    @property
    def data_file(self) -> str:
        return f"humaneval-{self.name}.jsonl.gz"

    def program(self, code: str, tests: str) -> str:
        """The whole program: the prompt and its completion (``code``), then the tests, as the
        kit assembles it (its ``process_humaneval_test``)."""
        if self.opening and not code.startswith(self.opening.strip()):
            code = self.opening + code
        head = "".join(line + "\n" for line in self.prelude) + "\n" if self.prelude else ""
        return head + code + "\n" + tests + self.closing


_CS_TRIVIAL = (
    "using System.Diagnostics;\nclass Problem {\n    public static void Main(string[] args) {\n"
    "    Debug.Assert(1 == 1);\n    }\n}\n"
)
_JAVA_TRIVIAL = (
    "import org.javatuples.*;\nclass Problem {\n    public static void main(String[] args) {\n"
    "    assert(Pair.with(1, 2).getValue0() == 1);\n    }\n}\n"
)
_JS_TRIVIAL = "const assert = require('node:assert');\nassert.deepEqual([1], [1]);\n"
CSHARP = Language(
    "cs",
    "C#",
    "Program.cs",
    "mono Program.exe",
    ("mcs", "mono"),
    ("mono-mcs", "mono-runtime"),
    compile="mcs -d:DEBUG Program.cs",
    passes="no_fail",
    prelude=CS_USINGS,
    env=(("MONO_TRACE_LISTENER", "Console.Error"),),
    closed_by_tests=True,
    trivial=_CS_TRIVIAL,
    readable=("/etc/mono",),
)
LANGUAGES: dict[str, Language] = {
    language.name: language
    for language in (
        # -- the Qwen2.5-Coder kit's seven (its published verdicts: shared/validation)
        Language(
            "cpp",
            "C++",
            "test.cpp",
            "./a.out",
            ("g++",),
            ("g++",),
            compile="g++ -std=c++17 test.cpp",
            prelude=CPP_INCLUDES,
            closed_by_tests=True,
            trivial="#include<assert.h>\n#include<bits/stdc++.h>\nint main() {\n    assert(1 == 1);\n}\n",
        ),
        CSHARP,
        Language(
            "java",
            "Java",
            "Problem.java",
            "java -ea -cp .:javatuples-1.2.jar Problem",
            ("javac", "java"),
            ("default-jdk-headless",),
            compile="javac -cp javatuples-1.2.jar Problem.java",
            support=(JAVATUPLES,),
            closed_by_tests=True,
            trivial=_JAVA_TRIVIAL,
            readable=("/etc/java-*",),
        ),
        Language(
            "js",
            "JavaScript",
            "test.js",
            "node test.js",
            ("node",),
            ("nodejs",),
            passes="silent",
            syntax_errors=("SyntaxError",),
            trivial=_JS_TRIVIAL,
        ),
        Language(
            "php",
            "PHP",
            "test.php",
            "php -f test.php",
            ("php",),
            ("php-cli",),
            opening="<?php\n",
            closing="?>",
            syntax_errors=("PHP Parse error",),
            trivial="<?php\nif (1 !== 1) { throw new Exception('no'); }\n",
            readable=("/etc/php",),
        ),
        Language(
            "sh",
            "Bash",
            "test.sh",
            "/bin/bash test.sh",
            ("bash",),
            ("bash",),
            syntax_errors=("syntax error",),
            closed_by_tests=True,
            trivial="#!/bin/bash\nset -e\n[[ 1 = 1 ]]\n",
        ),
        Language(
            "ts",
            "TypeScript",
            "test.ts",
            "node test.js",
            ("tsc", "node"),
            ("node-typescript", "nodejs"),
            compile="tsc test.ts --target ES2015 --lib ES2015,DOM",
            retry="tsc test.ts",
            trivial="declare var require: any;\n" + _JS_TRIVIAL,
        ),
        # -- MultiPL-E's own evaluators
        replace(CSHARP, name="cs-bu", title="C# (fixed tests)"),
        Language(
            "d",
            "D",
            "test.d",
            "./test",
            ("ldc2",),
            ("ldc",),
            compile="ldc2 -unittest test.d -of=test",
            trivial="unittest\n{\n    assert(1 == 1);\n}\nvoid main(){}\n",
            readable=("/etc/ldc2.conf",),
        ),
        Language(
            "go",
            "Go",
            "main_test.go",
            "go test main_test.go",
            ("go",),
            ("golang-go",),
            syntax_errors=("[setup failed]", "[build failed]"),
            timeouts=("panic: test timed out",),
            env=(("GO111MODULE", "off"), ("GOFLAGS", "-count=1")),
            trivial='package trivial_test\n\nimport "testing"\n\nfunc TestOne(t *testing.T) {\n\tif 1 != 1 {\n'
            '\t\tt.Errorf("1 != 1")\n\t}\n}\n',
        ),
        Language(
            "jl",
            "Julia",
            "test.jl",
            "julia test.jl",
            ("julia",),
            (),
            install="https://julialang.org/downloads",
            trivial="using Test\n@test(1 == 1)\n",
        ),
        Language(
            "lua",
            "Lua",
            "test.lua",
            "lua test.lua",
            ("lua",),
            ("lua5.4", "lua-unit"),
            trivial="lu = require('luaunit')\nfunction test_one()\n    lu.assertEquals(1, 1)\nend\n"
            "os.exit(lu.LuaUnit.run())\n",
        ),
        Language(
            "pl",
            "Perl",
            "test.pl",
            "perl test.pl",
            ("perl",),
            ("perl", "libtest-deep-perl"),
            passes="no_error",
            trivial='use Test::Deep;\nif (eq_deeply([1], [1])) { print "ok!" } else { exit 1; }\n',
            readable=("/etc/perl",),
        ),
        Language(
            "python",
            "Python",
            "test.py",
            "python3 test.py",
            ("python3",),
            ("python3",),
            syntax_errors=("SyntaxError",),
            trivial="assert 1 == 1\n",
        ),
        Language(
            "r",
            "R",
            "test.r",
            "Rscript test.r",
            ("Rscript",),
            ("r-base-core",),
            syntax_errors=("unexpected",),
            trivial="stopifnot(isTRUE(all.equal(1, 1)))\n",
            readable=("/etc/R",),
        ),
        Language(
            "rb",
            "Ruby",
            "test.rb",
            "ruby test.rb",
            ("ruby",),
            ("ruby",),
            syntax_errors=("syntax error",),
            trivial="require 'test/unit'\nclass TestOne < Test::Unit::TestCase\n  def test_one\n"
            "    assert_equal(1, 1)\n  end\nend\n",
        ),
        Language(
            "rkt",
            "Racket",
            "test.rkt",
            "racket test.rkt",
            ("racket",),
            ("racket",),
            passes="quiet",
            syntax_errors=("read-syntax",),
            trivial="#lang racket\n(require rackunit)\n(check-equal? 1 1)\n",
            readable=("/etc/racket",),
        ),
        Language(
            "rs",
            "Rust",
            "test.rs",
            "./test",
            ("rustc",),
            ("rustc",),
            compile="rustc test.rs -o test",
            closed_by_tests=True,
            trivial="fn main() {\n    assert_eq!(1, 1);\n}\n",
        ),
        Language(
            "scala",
            "Scala",
            "test.scala",
            "scala -cp out Problem",
            ("scalac", "scala"),
            ("scala",),
            compile="mkdir -p out && scalac -d out test.scala",
            passes="quiet",
            closed_by_tests=True,
            trivial="object Problem {\n    def main(args: Array[String]) = {\n    assert(1 == 1);\n    }\n}\n",
            readable=("/etc/java-*",),
        ),
        Language(
            "swift",
            "Swift",
            "test.swift",
            "./test",
            ("swiftc",),
            (),
            compile="swiftc test.swift -o test",
            install="https://www.swift.org/install",
            closed_by_tests=True,
            trivial="assert(1 == 1)\n",
        ),
    )
}
KIT_LANGUAGES = ("cpp", "cs", "java", "js", "php", "sh", "ts")  # those the published verdicts cover


def language(name: str) -> Language:
    return LANGUAGES[name]
