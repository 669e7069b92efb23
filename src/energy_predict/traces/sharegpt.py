"""ShareGPT-style conversations, counted with the user's own tokenizer.

A JSON array (or JSON lines) of `{"conversations": [{"from": "human" | "gpt" |
"system", "value": text}, ...]}`, or the same with `messages` of `{"role", "content"}` (OpenAI chat style).

They hold text, not token counts, so lengths need the model's tokenizer: counted only with the `transformers`
package and a tokenizer already on this machine (`--tokenizer` a folder, or a Hugging Face id in the local cache;
nothing is downloaded). Each assistant turn is one request: its prompt is every turn before it, its output the
turn. Turns are tokenized one by one without a chat template, so a prompt counts a few tokens per turn fewer
than an engine applying one would. Conversations have no times, so the trace has no rate.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from energy_predict.errors import InputError
from energy_predict.jsonio import json_type
from energy_predict.traces.base import Options, RawTrace, counted
from energy_predict.traces.head import Head
from energy_predict.traces.tables import read_json_records
from energy_predict.traces.vllm_bench import refuse_columns

USER, ASSISTANT, SYSTEM = "user", "assistant", "system"
_ROLES = {"human": USER, "user": USER, "gpt": ASSISTANT, "assistant": ASSISTANT, "chatgpt": ASSISTANT,
          "bard": ASSISTANT, "bing": ASSISTANT, "model": ASSISTANT, "system": SYSTEM}
_EXAMPLE = '[{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}]'
INPUT, OUTPUT = "conversations (prompt tokens)", "conversations (reply tokens)"


def _turns(conversation: object) -> list[tuple[str, str]] | None:
    """(role, text) pairs; None when the record is no conversation."""
    if not isinstance(conversation, dict):
        return None
    turns = conversation.get("conversations", conversation.get("messages"))
    if not isinstance(turns, list):
        return None
    out = []
    for turn in turns:
        if not isinstance(turn, dict):
            return None
        role = _ROLES.get(str(turn.get("from", turn.get("role", ""))).lower())
        text = turn.get("value", turn.get("content"))
        if isinstance(text, list):  # content parts: keep the text ones
            text = "\n".join(p.get("text", "") for p in text if isinstance(p, dict) and isinstance(p.get("text"), str))
        if role is None or not isinstance(text, str):
            return None
        out.append((role, text))
    return out


def load_tokenizer(name: str | None, opts: Options):
    """The tokenizer `name` from this machine only; InputError saying why not and what to do."""
    flag = opts.fields.tokenizer
    if name is None:
        fix = ("give --tokenizer (a tokenizer folder, or a Hugging Face id already downloaded)"
               if flag == "--tokenizer" else
               "convert the conversations first: energy-predict profile from-trace FILE --tokenizer NAME -o P.json")
        raise InputError(flag, "ShareGPT-style conversations hold text, not token counts; counting them needs the "
                         "model's tokenizer", fix)
    try:
        import transformers
    except ImportError:
        raise InputError(flag, "counting ShareGPT tokens needs the transformers package, which is not installed",
                         "pip install transformers (or give a trace with token counts)") from None
    transformers.logging.set_verbosity_error()
    try:
        return transformers.AutoTokenizer.from_pretrained(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - transformers raises OSError, ValueError, KeyError... for a missing tokenizer
        raise InputError(flag, f"no tokenizer {name!r} on this machine (nothing is downloaded)",
                         "give a folder holding tokenizer.json (and tokenizer_config.json), or download it once: "
                         "huggingface-cli download ID tokenizer.json tokenizer_config.json") from None


def read(path: Path, head: Head, opts: Options) -> RawTrace:
    """One request per assistant turn, lengths from the tokenizer; InputError without one."""
    refuse_columns(opts, "a ShareGPT file")
    field = opts.fields.trace
    tokenizer = load_tokenizer(opts.tokenizer, opts)  # before reading a file that may be large
    conversations = []
    for number, record in enumerate(read_json_records(path, field, _EXAMPLE), 1):
        turns = _turns(record)
        if turns is None:
            raise InputError(field, f"{path} record {number} is {json_type(record)} that is not a conversation",
                             f"give conversations as ShareGPT does, e.g. {_EXAMPLE}")
        conversations.append(turns)
    texts = [text for turns in conversations for _, text in turns]
    lengths = iter(len(ids) for ids in (tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []))
    special = len(tokenizer("", add_special_tokens=True)["input_ids"])  # BOS and the like, once per prompt
    rows, orphans = [], 0
    for turns in conversations:
        before = 0
        for k, (role, _) in enumerate(turns):
            n = next(lengths)
            if role == ASSISTANT:
                if k == 0:
                    orphans += 1
                else:
                    rows.append((before + special, n))
            before += n
    notes = [f"each of {len(rows):,} assistant turns in {len(conversations):,} conversations is one request, its "
             "prompt the turns before it (tokenized without a chat template); conversations have no times, so no "
             "rate"]
    if orphans:
        notes.append(f"skipped {counted(orphans, 'assistant turn')} that open their conversation (no prompt)")
    return RawTrace(pd.DataFrame(rows, columns=[INPUT, OUTPUT]), INPUT, OUTPUT, notes=tuple(notes))
