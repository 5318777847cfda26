"""Turning replies into programs: the reply corpus in fixtures/replies/, then each rule on its own."""

from __future__ import annotations

import ast
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_convcode.extract import Extraction, from_chat, from_completion

REPLIES = Path(__file__).resolve().parent.parent / "fixtures" / "replies"


def program(text: str) -> str:
    """An expected program, written indented in the test."""
    return textwrap.dedent(text).lstrip("\n")


def fenced(code: str, tag: str = "python") -> str:
    return f"Here you go:\n\n```{tag}\n{code}```\n\nHope this helps!\n"


# ---------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Chat:
    entry_point: str
    code: str = ""  # the exact program expected; "" when the reply holds none
    why: str = ""  # then: how the failure message starts


CHATS: dict[str, Chat] = {
    "chat_fenced_python": Chat(
        "running_max",
        program('''
            from typing import List


            def running_max(numbers: List[int]) -> List[int]:
                """Return the running maximum of the list."""
                result = []
                best = None
                for n in numbers:
                    best = n if best is None else max(best, n)
                    result.append(best)
                return result
        '''),
    ),
    "chat_fenced_py_tag": Chat(
        "count_vowels",
        program("""
            def count_vowels(s: str) -> int:
                return sum(1 for ch in s.lower() if ch in "aeiou")
        """),
    ),
    "chat_fenced_python3_tag": Chat(
        "is_balanced",
        program("""
            def is_balanced(brackets: str) -> bool:
                pairs = {")": "(", "]": "[", "}": "{"}
                stack = []
                for ch in brackets:
                    if ch in "([{":
                        stack.append(ch)
                    elif ch in pairs:
                        if not stack or stack.pop() != pairs[ch]:
                            return False
                return not stack
        """),
    ),
    "chat_bare_fence": Chat(
        "second_largest",
        program("""
            def second_largest(nums):
                distinct = sorted(set(nums), reverse=True)
                if len(distinct) < 2:
                    return None
                return distinct[1]
        """),
    ),
    "chat_tilde_fence": Chat(
        "digit_sum",
        program("""
            def digit_sum(n: int) -> int:
                return sum(int(d) for d in str(abs(n)))
        """),
    ),
    "chat_think_then_code": Chat(
        "merge_intervals",
        program("""
            def merge_intervals(intervals):
                merged = []
                for start, end in sorted(intervals):
                    if merged and start <= merged[-1][1]:
                        merged[-1][1] = max(merged[-1][1], end)
                    else:
                        merged.append([start, end])
                return merged
        """),
    ),
    "chat_r1_closing_think_only": Chat(
        "longest_common_prefix",
        program("""
            def longest_common_prefix(strs: list[str]) -> str:
                if not strs:
                    return ""
                first, last = min(strs), max(strs)
                i = 0
                while i < len(first) and i < len(last) and first[i] == last[i]:
                    i += 1
                return first[:i]
        """),
    ),
    "chat_think_unterminated": Chat("count_islands", why="the reply holds only reasoning"),
    "chat_thinking_tag": Chat(
        "rotate_left",
        program("""
            def rotate_left(items: list, k: int) -> list:
                if not items:
                    return []
                k %= len(items)
                return items[k:] + items[:k]
        """),
    ),
    "chat_reasoning_tag": Chat(
        "flatten",
        program("""
            def flatten(items):
                flat = []
                for item in items:
                    if isinstance(item, list):
                        flat.extend(flatten(item))
                    else:
                        flat.append(item)
                return flat
        """),
    ),
    "chat_two_blocks_helper": Chat(
        "nth_prime",
        program("""
            import math


            def is_prime(n: int) -> bool:
                if n < 2:
                    return False
                for d in range(2, math.isqrt(n) + 1):
                    if n % d == 0:
                        return False
                return True


            def nth_prime(n: int) -> int:
                count, candidate = 0, 1
                while count < n:
                    candidate += 1
                    if is_prime(candidate):
                        count += 1
                return candidate
        """),
    ),
    "chat_two_versions": Chat(
        "has_pair_with_sum",
        program("""
            def has_pair_with_sum(nums, target):
                seen = set()
                for x in nums:
                    if target - x in seen:
                        return True
                    seen.add(x)
                return False
        """),
    ),
    "chat_solution_then_usage": Chat(
        "remove_duplicates",
        program("""
            def remove_duplicates(items):
                seen = set()
                result = []
                for item in items:
                    if item not in seen:
                        seen.add(item)
                        result.append(item)
                return result
        """),
    ),
    "chat_with_tests_and_main": Chat(
        "is_anagram",
        program('''
            from collections import Counter


            def is_anagram(a: str, b: str) -> bool:
                """Return True if a and b contain the same letters, ignoring case and spaces."""
                normalize = lambda s: Counter(s.replace(" ", "").lower())
                return normalize(a) == normalize(b)


            def test_is_anagram():
                assert is_anagram("Listen", "Silent")
                assert not is_anagram("apple", "papel!")
        '''),
    ),
    "chat_shell_and_output_blocks": Chat(
        "primes_up_to",
        program("""
            def primes_up_to(limit: int) -> list[int]:
                if limit < 2:
                    return []
                sieve = [True] * (limit + 1)
                sieve[0] = sieve[1] = False
                for i in range(2, int(limit**0.5) + 1):
                    if sieve[i]:
                        sieve[i * i :: i] = [False] * len(sieve[i * i :: i])
                return [i for i, is_p in enumerate(sieve) if is_p]
        """),
    ),
    "chat_no_code_refusal": Chat("solve", why="the reply holds no code (it starts: \"I'm sorry, but I can't help"),
    "chat_prose_only": Chat("is_valid_ipv4", why="the reply holds no code (it starts: 'To decide whether"),
    "chat_empty": Chat("solve", why="the reply is empty"),
    "chat_unclosed_fence": Chat(
        "word_frequencies",
        program("""
            import re
            from collections import Counter


            def word_frequencies(text: str) -> dict[str, int]:
                words = re.findall(r"[a-z']+", text.lower())
                return dict(Counter(words))
        """),
    ),
    "chat_unclosed_fence_mid_function": Chat(
        "spiral_order",
        program("""
            def spiral_order(matrix):
                result = []
                if not matrix:
                    return result
                top, bottom = 0, len(matrix) - 1
                left, right = 0, len(matrix[0]) - 1
                while top <= bottom and left <= right:
                    for j in range(left, right + 1):
                        result.append(matrix[top][j])
                    top += 1
                    for i in range(top, bottom + 1):
                        result.append(matrix[i][right])
                    right -= 1
                    if top <= bottom:
                        for j in range(right, left - 1, -1):
                            result.append(matrix[bottom][j
        """),
    ),
    "chat_unfenced": Chat(
        "is_palindrome",
        program("""
            def is_palindrome(text):
                cleaned = [ch.lower() for ch in text if ch.isalnum()]
                return cleaned == cleaned[::-1]
        """),
    ),
    "chat_unfenced_after_prose": Chat(
        "sum_of_squares",
        program("""
            def sum_of_squares(n):
                total = 0
                for i in range(1, n + 1):
                    total += i * i
                return total
        """),
    ),
    "chat_list_indented_fences": Chat(
        "group_anagrams",
        program("""
            from collections import defaultdict


            def anagram_key(word: str) -> str:
                return "".join(sorted(word.lower()))


            def group_anagrams(words: list[str]) -> list[list[str]]:
                groups = defaultdict(list)
                for word in words:
                    groups[anagram_key(word)].append(word)
                return list(groups.values())
        """),
    ),
    "chat_codellama_python_tags": Chat(
        "get_unique_elements",
        program("""
            def get_unique_elements(my_list):
                return list(dict.fromkeys(my_list))
        """),
    ),
    "chat_doctest_session": Chat(
        "title_case",
        program("""
            def title_case(title: str, minor_words: list[str]) -> str:
                minor = {w.lower() for w in minor_words}
                words = title.lower().split()
                return " ".join(
                    w if i > 0 and w in minor else w.capitalize() for i, w in enumerate(words)
                )
        """),
    ),
    "chat_input_script": Chat(
        "max_subarray_sum",
        program("""
            def max_subarray_sum(arr):
                best = current = arr[0]
                for x in arr[1:]:
                    current = max(x, current + x)
                    best = max(best, current)
                return best
        """),
    ),
    "chat_class_solution": Chat(
        "two_sum",
        program("""
            from typing import List


            class Solution:
                def twoSum(self, nums: List[int], target: int) -> List[int]:
                    index = {}
                    for i, x in enumerate(nums):
                        if target - x in index:
                            return [index[target - x], i]
                        index[x] = i
                    return []
        """),
    ),
    "chat_constants_and_precompute": Chat(
        "count_paths",
        program("""
            import sys

            sys.setrecursionlimit(10000)

            MOD = 10**9 + 7
            LIMIT = 2000


            def _factorials(limit):
                fact = [1] * (limit + 1)
                for i in range(1, limit + 1):
                    fact[i] = fact[i - 1] * i % MOD
                return fact


            FACT = _factorials(LIMIT)


            def count_paths(m: int, n: int) -> int:
                k, r = m + n - 2, m - 1
                return FACT[k] * pow(FACT[r], MOD - 2, MOD) * pow(FACT[k - r], MOD - 2, MOD) % MOD
        """),
    ),
    "chat_syntax_error": Chat(
        "reverse_words",
        program("""
            def reverse_words(sentence)
                words = sentence.split()
                return " ".join(reversed(words))

            print(reverse_words("hello world"))
        """),
    ),
    "chat_only_shell": Chat("top_lines", why="the reply holds no Python code, only bash blocks"),
    "chat_deepseek_coder_full_program": Chat(
        "k_closest",
        program("""
            import heapq
            from typing import List, Tuple


            def k_closest(points: List[Tuple[int, int]], k: int) -> List[Tuple[int, int]]:
                # Keep a max-heap of size k keyed on the negated squared distance.
                heap = []
                for x, y in points:
                    dist = x * x + y * y
                    if len(heap) < k:
                        heapq.heappush(heap, (-dist, x, y))
                    elif -heap[0][0] > dist:
                        heapq.heapreplace(heap, (-dist, x, y))
                return sorted(((x, y) for _, x, y in heap), key=lambda p: p[0] ** 2 + p[1] ** 2)


            def main():
                points = [(1, 3), (-2, 2), (5, 8), (0, 1)]
                print(k_closest(points, 2))
        """),
    ),
}

# the replies whose extraction, by design, does not define the entry point or does not compile
NOT_RUNNABLE = {"chat_class_solution", "chat_unclosed_fence_mid_function", "chat_syntax_error"}

RUNNING_MAX = program('''
    from typing import List


    def running_max(numbers: List[int]) -> List[int]:
        """ Return a list whose i-th element is the largest of numbers[0], ..., numbers[i].
        >>> running_max([1, 3, 2, 5, 4])
        [1, 3, 3, 5, 5]
        """
''')

COUNT_SQUARES = program('''
    import math


    def is_square(n: int) -> bool:
        """Whether n is a perfect square."""
        return n >= 0 and math.isqrt(n) ** 2 == n


    def count_squares(numbers: list) -> int:
        """ Count how many numbers in the list are perfect squares.
        >>> count_squares([1, 2, 4, 7, 9])
        3
        """
''')

STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")  # as the original HumanEval harness


@dataclass(frozen=True)
class Completion:
    prompt: str
    stop: tuple[str, ...]
    expected: Extraction


COMPLETIONS: dict[str, Completion] = {
    "completion_plain": Completion(
        RUNNING_MAX,
        STOP,
        Extraction(
            "    result = []\n"
            "    for x in numbers:\n"
            "        result.append(x if not result else max(result[-1], x))\n"
            "    return result\n",
            "completion",
        ),
    ),
    "completion_echo": Completion(
        RUNNING_MAX,
        STOP,
        Extraction(
            '    out = []\n    best = float("-inf")\n    for x in numbers:\n'
            "        best = max(best, x)\n        out.append(best)\n    return out\n",
            "completion",
        ),
    ),
    "completion_past_stop": Completion(
        RUNNING_MAX,
        STOP,
        Extraction(
            "    if not numbers:\n        return []\n    maxima = [numbers[0]]\n    for x in numbers[1:]:\n"
            "        maxima.append(max(maxima[-1], x))\n    return maxima\n\n",
            "completion",
        ),
    ),
    "completion_restated_program": Completion(
        COUNT_SQUARES,
        ("<|endoftext|>",),
        Extraction(
            program('''
                import math


                def is_square(n: int) -> bool:
                    """Whether n is a perfect square."""
                    return n >= 0 and math.isqrt(n) ** 2 == n


                def count_squares(numbers: list) -> int:
                    """Count the perfect squares in the list."""
                    return sum(1 for n in numbers if is_square(n))
            '''),
            "solution",
        ),
    ),
    "completion_empty": Completion(
        RUNNING_MAX, STOP, Extraction("", "completion", "the model's continuation is empty")
    ),
}


def reply(name: str) -> str:
    return (REPLIES / f"{name}.txt").read_text(encoding="utf-8")


def test_every_reply_file_has_an_expectation_and_a_line_in_the_readme() -> None:
    files = {p.stem for p in REPLIES.glob("*.txt")}
    assert files == set(CHATS) | set(COMPLETIONS)
    assert len(files) >= 25
    readme = (REPLIES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}.txt`" in readme for name in files)


@pytest.mark.parametrize("name", sorted(CHATS))
def test_chat_reply_yields_the_expected_program(name: str) -> None:
    expected = CHATS[name]
    got = from_chat(reply(name), expected.entry_point)
    assert (got.code, got.kind) == (expected.code, "solution")
    if expected.code:
        assert got.why == ""
    else:
        assert got.why.startswith(expected.why), got.why


def top_level(code: str) -> list[ast.stmt]:
    return ast.parse(code).body


RUNNABLE = sorted(name for name, chat in CHATS.items() if chat.code and name not in NOT_RUNNABLE)


@pytest.mark.parametrize("name", RUNNABLE)
def test_chat_programs_only_define_things_and_define_the_entry_point(name: str) -> None:
    expected = CHATS[name]
    code = from_chat(reply(name), expected.entry_point).code
    body = top_level(code)
    assert not [type(s).__name__ for s in body if isinstance(s, (ast.Assert, ast.If, ast.For, ast.While))]
    calls = [s for s in body if isinstance(s, ast.Expr)]
    assert all("setrecursionlimit" in ast.unparse(s) for s in calls)
    assert "input(" not in code
    namespace: dict[str, object] = {}
    limit = sys.getrecursionlimit()
    try:
        exec(compile(code, name, "exec"), namespace)  # loading only defines things: no output, no input
    finally:
        sys.setrecursionlimit(limit)  # one program raises it
    assert callable(namespace[expected.entry_point])


@pytest.mark.parametrize("name", RUNNABLE)
def test_extracting_an_extracted_program_changes_nothing(name: str) -> None:
    code = from_chat(reply(name), CHATS[name].entry_point).code
    assert from_chat(fenced(code), CHATS[name].entry_point).code == code


@pytest.mark.parametrize("name", sorted(COMPLETIONS))
def test_completion_yields_the_expected_program(name: str) -> None:
    case = COMPLETIONS[name]
    assert from_completion(case.prompt, reply(name), case.stop) == case.expected


def test_corpus_completions_run_as_programs() -> None:
    for name in ("completion_plain", "completion_echo", "completion_past_stop"):
        namespace: dict[str, object] = {}
        exec(RUNNING_MAX + from_completion(RUNNING_MAX, reply(name), STOP).code, namespace)
        assert namespace["running_max"]([1, 3, 2, 5, 4]) == [1, 3, 3, 5, 5], name  # type: ignore[operator]
    namespace = {}
    exec(from_completion(COUNT_SQUARES, reply("completion_restated_program")).code, namespace)
    assert namespace["count_squares"]([1, 2, 4, 7, 9]) == 3  # type: ignore[operator]


# ---------------------------------------------------------------- reasoning


def test_a_think_section_and_its_draft_are_dropped() -> None:
    text = "<think>\nDraft:\n```python\ndef f():\n    return 0\n```\n</think>\n\n" + fenced("def f():\n    return 1\n")
    assert from_chat(text, "f").code == "def f():\n    return 1\n"


@pytest.mark.parametrize("tag", ["think", "thinking", "reasoning", "THINK"])
def test_every_reasoning_tag_is_dropped(tag: str) -> None:
    text = f"<{tag}>\ndef f():\n    return 0\n</{tag}>\ndef f():\n    return 1\n"
    assert from_chat(text, "f").code == "def f():\n    return 1\n"


def test_everything_after_an_unclosed_think_is_reasoning() -> None:
    text = fenced("def f():\n    return 1\n") + "<think>\nActually, maybe:\n```python\ndef f():\n    return 2\n```"
    assert from_chat(text, "f").code == "def f():\n    return 1\n"
    only = from_chat("<think>\nI think the answer is\n```python\ndef f():\n    return 2\n```\n", "f")
    assert only == Extraction("", "solution", "the reply holds only reasoning, with no answer after it")


def test_everything_before_a_lone_closing_think_is_reasoning() -> None:
    text = "We need f.\n\ndef f():\n    return 0\n\nThat's wrong.\n</think>\n\ndef f():\n    return 1\n"
    assert from_chat(text, "f").code == "def f():\n    return 1\n"


def test_several_reasoning_sections_are_all_dropped() -> None:
    text = "<think>a</think>\nFirst part.\n<think>\ndef f():\n    return 0\n</think>\n" + fenced("def f():\n    pass\n")
    assert from_chat(text, "f").code == "def f():\n    pass\n"


# ---------------------------------------------------------------- fences


@pytest.mark.parametrize("opening", ["```python", "```py", "```Python3", "```python3.11", "```", "~~~python", "````py"])
def test_fence_styles(opening: str) -> None:
    closing = opening[0] * (len(opening) - len(opening.lstrip(opening[0])))
    text = f"Solution:\n{opening}\ndef f(x):\n    return x + 1\n{closing}\nDone.\n"
    assert from_chat(text, "f") == Extraction("def f(x):\n    return x + 1\n", "solution")


def test_a_longer_fence_holds_a_shorter_one() -> None:
    text = '````python\ndef f():\n    """Example:\n```\nf()\n```\n"""\n    return 1\n````\n'
    assert from_chat(text, "f").code == 'def f():\n    """Example:\n```\nf()\n```\n"""\n    return 1\n'


def test_fences_indented_in_a_list_lose_that_indentation() -> None:
    text = "1. The helper:\n\n    ```python\n    def g():\n        return 2\n    ```\n\n2. Done.\n"
    assert from_chat(text, "g").code == "def g():\n    return 2\n"


def test_a_cut_off_block_keeps_its_code_without_an_unfinished_call() -> None:
    assert from_chat("```python\ndef f():\n    return 1\n", "f").code == "def f():\n    return 1\n"
    cut = "```python\ndef f():\n    return 1\n\nif __name__ == '__main__':\n    print(f("
    assert from_chat(cut, "f").code == "def f():\n    return 1\n"


def test_a_cut_off_definition_is_kept_as_written_for_the_sandbox_to_report() -> None:
    cut = "```python\ndef f():\n    return 1\n\ndef g(x):\n    return (x +"
    assert from_chat(cut, "g").code == "def f():\n    return 1\n\ndef g(x):\n    return (x +\n"


@pytest.mark.parametrize(
    "block",
    [
        "```bash\npip install numpy\n```",
        "```\n$ python solution.py\n3\n```",
        "```python\n>>> f(1)\n2\n```",
        "```shell\npython3 -m pip install sympy\n```",
        "```\n[1, 2, 3]\n```",
        "```text\nresult = 3\n```",
        '```json\n{"a": 1}\n```',
    ],
)
def test_shell_sessions_and_output_are_not_code(block: str) -> None:
    text = f"{block}\n\n```python\ndef f(x):\n    return x\n```\n\n{block}\n"
    assert from_chat(text, "f").code == "def f(x):\n    return x\n"


def test_an_untagged_block_is_code_when_it_defines_something() -> None:
    assert from_chat("```\nimport os\nX = os.sep\n```", None).code == "import os\n"
    assert from_chat("```\ndef f(:\n```", "f").code == "def f(:\n"  # broken, but plainly meant as code


def test_only_non_python_blocks_is_no_code_and_says_what_was_there() -> None:
    got = from_chat("Run:\n```\n$ ls\n```\nand\n```json\n[1]\n```\n", "f")
    assert got == Extraction("", "solution", "the reply holds no Python code, only json, shell blocks")


def test_code_outside_non_python_blocks_is_still_found() -> None:
    text = "Output:\n```text\n3\n```\nThe code:\n\ndef f():\n    return 3\n"
    assert from_chat(text, "f").code == "def f():\n    return 3\n"


def test_codellama_python_tags_are_a_fence() -> None:
    text = "[PYTHON]\ndef f():\n    return 1\n\nprint(f())\n[/PYTHON]\n[TESTS]\nassert f() == 1\n[/TESTS]\n"
    assert from_chat(text, "f").code == "def f():\n    return 1\n"


def test_windows_line_endings() -> None:
    assert from_chat("```python\r\ndef f():\r\n    return 1\r\n```\r\n", "f").code == "def f():\n    return 1\n"


# ---------------------------------------------------------------- several blocks


def test_the_last_block_defining_the_entry_point_wins() -> None:
    text = fenced("def f():\n    return 1\n") + fenced("def f():\n    return 2\n") + fenced("print(f())\n")
    assert from_chat(text, "f").code == "def f():\n    return 2\n"


def test_a_defining_block_that_compiles_wins_over_a_later_one_that_does_not() -> None:
    text = fenced("def f():\n    return 1\n") + fenced("def f()\n    return 2\n")
    assert from_chat(text, "f").code == "def f():\n    return 1\n"


def test_helpers_and_imports_come_from_other_blocks_when_needed_and_only_then() -> None:
    helpers = "import pytest\nimport math\nfrom os import sep\n\n\ndef unused():\n    return sep\n\n\ndef root(x):\n"
    helpers += "    return math.sqrt(x)\n\n\ndef test_f():\n    assert f(4) == 2\n"
    text = fenced(helpers) + fenced("def f(x):\n    return root(x)\n")
    expected = "import math\n\n\ndef root(x):\n    return math.sqrt(x)\n\n\ndef f(x):\n    return root(x)\n"
    assert from_chat(text, "f").code == expected


def test_borrowed_code_goes_after_the_chosen_blocks_imports() -> None:
    chosen = "from __future__ import annotations\nimport re\n\n\ndef f(s: str) -> int:\n"
    chosen += "    return min(LIMIT, len(re.findall('a', s)))\n"
    text = fenced("from __future__ import annotations\n\nLIMIT = 10\n") + fenced(chosen)
    code = from_chat(text, "f").code
    assert code == (
        "from __future__ import annotations\nimport re\n\n\nLIMIT = 10\n\n\n"
        "def f(s: str) -> int:\n    return min(LIMIT, len(re.findall('a', s)))\n"
    )
    compile(code, "<test>", "exec")  # the __future__ import is still first


def test_a_later_block_wins_a_name_two_blocks_define() -> None:
    text = (
        fenced("def g():\n    return 1\n") + fenced("def g():\n    return 2\n") + fenced("def f():\n    return g()\n")
    )
    assert from_chat(text, "f").code == "def g():\n    return 2\n\n\ndef f():\n    return g()\n"


def test_without_an_entry_point_the_block_with_most_definitions_wins() -> None:
    text = fenced("def a():\n    pass\n\n\ndef b():\n    pass\n") + fenced("def c():\n    pass\n")
    assert from_chat(text).code == "def a():\n    pass\n\n\ndef b():\n    pass\n"


def test_a_missing_entry_point_still_returns_the_code() -> None:
    assert from_chat(fenced("def solve(x):\n    return x\n"), "f") == Extraction(
        "def solve(x):\n    return x\n", "solution"
    )


# ---------------------------------------------------------------- unfenced code


def test_a_reply_that_is_only_code() -> None:
    assert from_chat("import math\n\ndef f(x):\n    return math.floor(x)\n", "f").code == (
        "import math\n\ndef f(x):\n    return math.floor(x)\n"
    )


def test_unfenced_code_is_the_longest_compiling_span_from_its_first_line() -> None:
    text = "Answer:\n\n@staticmethod\ndef f(x):\n    return x\nThis returns x unchanged, isn't it nice?\n"
    assert from_chat(text, "f").code == "@staticmethod\ndef f(x):\n    return x\n"


def test_prose_that_looks_like_an_import_is_skipped() -> None:
    text = "from here import it as you like, then:\n\n    def f():\n        return 1\n\nThat's all.\n"
    assert from_chat(text, "f").code == "def f():\n    return 1\n"


def test_code_is_found_after_a_long_run_of_prose_that_reads_like_imports() -> None:
    prose = "\n".join(f"from step {i} import the result of the previous step." for i in range(3000))
    assert from_chat(prose + "\n\ndef f():\n    return 1\n", "f").code == "def f():\n    return 1\n"


# ---------------------------------------------------------------- sanitizing


def test_examples_tests_input_and_main_guards_are_dropped() -> None:
    code = program("""
        import sys
        def f(x):
            return x * 2
        print(f(2))
        assert f(1) == 2
        f(3)
        n = int(input())
        data = sys.stdin.read().split()
        for i in range(3):
            print(f(i))
        if __name__ == "__main__":
            print(f(n))
    """)
    assert from_chat(fenced(code), "f").code == "import sys\ndef f(x):\n    return x * 2\n"


def test_assignments_stay_when_definitions_read_them_and_go_otherwise() -> None:
    code = program("""
        SIZE = 4
        TABLE = [i * i for i in range(SIZE)]
        grid = [[0] * SIZE]
        result = None


        def f(i):
            result = TABLE[i]
            return result


        result = f(2)
        f = f
    """)
    assert from_chat(fenced(code), "f").code == program("""
        SIZE = 4
        TABLE = [i * i for i in range(SIZE)]

        def f(i):
            result = TABLE[i]
            return result

        f = f
    """)  # one blank line where statements were dropped


def test_an_entry_point_bound_by_assignment_is_kept() -> None:
    assert from_chat(fenced("f = lambda x: x + 1\nprint(f(1))\n"), "f").code == "f = lambda x: x + 1\n"


def test_globals_written_by_a_function_keep_their_initial_assignment() -> None:
    code = "calls = 0\n\n\ndef f():\n    global calls\n    calls += 1\n    return calls\n"
    assert from_chat(fenced(code), "f").code == code


def test_decorators_comments_guarded_imports_and_classes_are_kept() -> None:
    code = program("""
        try:
            import numpy as np
        except ImportError:
            np = None
        from functools import lru_cache

        # memoised, since the recursion repeats itself
        @lru_cache(maxsize=None)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)


        class Helper:
            base = 10
    """)
    assert from_chat(fenced(code), "fib").code == code


def test_code_that_does_not_compile_is_returned_as_written() -> None:
    for code in ["def f(x):\n    return x\nprint f(1)\n", "def f(x):\n    y = x\nreturn y\n"]:
        assert from_chat(fenced(code), "f") == Extraction(code, "solution")


def test_code_that_defines_nothing_is_no_code() -> None:
    got = from_chat(fenced("x = int(input())\nprint(x * 2)\n"), "f")
    assert got == Extraction(
        "", "solution", "the reply's code defines nothing (it starts: 'x = int(input()) print(x * 2)')"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "the reply is empty"),
        ("  \n\n", "the reply is empty"),
        ("I cannot help with that, sorry.", "the reply holds no code (it starts: 'I cannot help with that, sorry.')"),
        ("I cannot write this program because the problem statement is ambiguous.", "(it starts: 'I cannot write"),
    ],
)
def test_replies_without_code_say_why(text: str, why: str) -> None:
    got = from_chat(text, "f")
    assert (got.code, got.kind) == ("", "solution")
    assert why in got.why
    assert len(got.why) < 100


# ---------------------------------------------------------------- completions


BODY = "    return max(numbers)\n"


def test_the_continuation_is_cut_at_the_first_stop_sequence() -> None:
    text = BODY + "\nprint(running_max([1]))\n\ndef check():\n    pass\n"
    assert from_completion(RUNNING_MAX, text, STOP) == Extraction(BODY, "completion")
    assert from_completion(RUNNING_MAX, text, ("\ndef ", "", "\nprint(")).code == BODY
    assert from_completion(RUNNING_MAX, text).code == text


def test_an_echoed_prompt_is_removed_before_the_stops_apply() -> None:
    assert from_completion(RUNNING_MAX, RUNNING_MAX + BODY, STOP) == Extraction(BODY, "completion")
    loose = "\n" + RUNNING_MAX.rstrip() + "\n" + BODY  # the server trimmed and re-wrapped the echo
    assert from_completion(RUNNING_MAX, loose, STOP) == Extraction(BODY, "completion")


def test_a_continuation_that_only_echoes_or_stops_at_once_is_no_code() -> None:
    assert from_completion(RUNNING_MAX, RUNNING_MAX, STOP) == Extraction(
        "", "completion", "the continuation only repeats the prompt"
    )
    assert from_completion(RUNNING_MAX, "\nprint(1)\n", STOP) == Extraction(
        "", "completion", "the continuation is empty once cut at the stop sequence '\\nprint('"
    )
    assert from_completion(RUNNING_MAX, "", STOP).why == "the model's continuation is empty"


def test_a_restated_program_becomes_a_solution_with_the_prompts_imports() -> None:
    text = "\n\ndef running_max(numbers: List[int]) -> List[int]:\n"
    text += "    return [max(numbers[: i + 1]) for i in range(len(numbers))]\n"
    got = from_completion(RUNNING_MAX, text, ("<|endoftext|>",))
    assert got == Extraction("from typing import List\n\n\n" + text.lstrip("\n"), "solution")
    namespace: dict[str, object] = {}
    exec(got.code, namespace)
    assert namespace["running_max"]([2, 1, 3]) == [2, 2, 3]  # type: ignore[operator]


def test_a_restated_program_keeps_its_own_imports_without_doubling_them() -> None:
    text = "from typing import List\n\ndef running_max(numbers: List[int]) -> List[int]:\n    return numbers\n"
    assert from_completion(RUNNING_MAX, text) == Extraction(text, "solution")


def test_a_body_followed_by_a_new_definition_is_still_a_completion() -> None:
    text = BODY + "\n\ndef running_max(numbers):\n    return numbers\n"
    assert from_completion(RUNNING_MAX, text) == Extraction(text, "completion")


TYPED_PROMPT = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n'


def test_a_chat_answer_gets_the_prompt_imports_it_left_out_after_its_future_import() -> None:
    reply = "```python\nfrom __future__ import annotations\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"
    code = from_chat(reply, "total", TYPED_PROMPT).code
    assert code == (
        "from __future__ import annotations\nfrom typing import List\n\n\n"
        "def total(xs: List[int]) -> int:\n    return sum(xs)\n"
    )


def test_a_chat_answer_that_imports_what_the_prompt_does_gets_no_second_import() -> None:
    reply = "```python\nfrom typing import List\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"
    assert from_chat(reply, "total", TYPED_PROMPT).code.count("import") == 1
