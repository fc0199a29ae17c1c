#!/usr/bin/env python3
"""Reference chat renderings, independent of lmcc.

Templates (Qwen3, Qwen2.5, Llama 3, 3.1, 3.2): the chat_template string,
rendered with Jinja2 the way transformers' apply_chat_template does
(sandboxed, trim_blocks and lstrip_blocks, the loopcontrols extension, its
tojson (json.dumps with ensure_ascii=False), raise_exception and
strftime_now, the special tokens as variables, add_generation_prompt=True;
enable_thinking passed only when false, as a caller turning thinking off
does).

Qwen1: make_context of Qwen's qwen_generation_utils.py (chat_format
"chatml"), restated: the system block, then for each earlier turn
"\\n<|im_start|>user\\n...<|im_end|>\\n<|im_start|>assistant\\n...<|im_end|>",
then the query and "\\n<|im_start|>assistant\\n". Its token ids are built
piecewise: role and content tokenized separately with special tokens
disallowed, between the <|im_start|>/<|im_end|> ids and "\\n" tokens.

usage: render_chat.py (--config tokenizer_config.json | --qwen1) CONV.json [--no-think]
"""
import argparse
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def render_template(template, messages, today="26 Jul 2024", **variables):
    """today: what strftime_now returns (a fixed date keeps the test
    independent of the day it runs)."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: today
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **variables)


def render_qwen3(template, messages, enable_thinking=True):
    return render_template(template, messages, **({} if enable_thinking else {"enable_thinking": False}))


QWEN1_DEFAULT_SYSTEM = "You are a helpful assistant."


def qwen1_blocks(messages):
    """(role, content) blocks make_context joins with "\\n", system first."""
    if messages and messages[0]["role"] == "system":
        system, rest = messages[0]["content"], messages[1:]
    else:
        system, rest = QWEN1_DEFAULT_SYSTEM, messages
    return [("system", system)] + [(m["role"], m["content"]) for m in rest]


def render_qwen1(messages):
    blocks = qwen1_blocks(messages)
    text = "\n".join(f"<|im_start|>{role}\n{content}<|im_end|>" for role, content in blocks)
    return text + "\n<|im_start|>assistant\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("conversation")
    ap.add_argument("--config", help="tokenizer_config.json with the chat_template")
    ap.add_argument("--qwen1", action="store_true")
    ap.add_argument("--no-think", action="store_true")
    args = ap.parse_args()
    messages = json.load(open(args.conversation, encoding="utf-8"))
    if args.qwen1:
        out = render_qwen1(messages)
    else:
        template = json.load(open(args.config, encoding="utf-8"))["chat_template"]
        out = render_qwen3(template, messages, not args.no_think)
    sys.stdout.buffer.write(out.encode("utf-8"))


if __name__ == "__main__":
    main()
