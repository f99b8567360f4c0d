"""Tasks through llama.cpp in this process (`--backend llamacpp`): the model's own tokenizer and
chat template, greedy decoding until an end-of-generation token or the task's max_tokens.

The chat template is the one in the GGUF (tokenizer.chat_template), rendered by llama-cpp-python's
Jinja2ChatFormatter as its server does; a model without one (the suite's synthetic models) gets
the messages as "role: text" lines, and the outcome says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from bench.evals.answer import Answer
from bench.evals.tasks import Task
from engines.clock import now_ns

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

NO_TEMPLATE = "none in the model file: messages joined as 'role: text' lines"


class LocalEngine:
    def __init__(self, backend):
        """`backend`: a LlamaCppBackend after load()."""
        import llama_cpp

        self._lib, self._backend, self._llm = llama_cpp, backend, backend._llm
        self._vocab = self._llm._model.vocab
        template = self._llm.metadata.get("tokenizer.chat_template")
        self.chat_template = "the model's own (tokenizer.chat_template in the GGUF)" if template else NO_TEMPLATE
        self._formatter = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            token = self._llm._model.token_get_text
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=token(self._llm.token_eos()),
                                                  bos_token=token(self._llm.token_bos()))

    def prompt_ids(self, task: Task) -> list[int]:
        if task.prompt is not None:
            return self._llm.tokenize(task.prompt.encode("utf-8"), add_bos=True, special=False)
        assert task.messages is not None        # a task has a prompt or messages (bench/evals/tasks.py)
        if self._formatter is None:
            text = "\n".join(f"{m['role']}: {m['content']}" for m in task.messages) + "\nassistant:"
            return self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        # tasks.py checked each message is {"role": str, "content": str}: the OpenAI shape these types spell out
        out = self._formatter(messages=cast("list[ChatCompletionRequestMessage]", list(task.messages)))
        return self._llm.tokenize(out.prompt.encode("utf-8"), add_bos=not out.added_special, special=True)

    def answer(self, task: Task) -> Answer:
        ids = self.prompt_ids(task)
        tokens: list[int] = []
        first = last = None
        finish = "length"
        send = now_ns()
        for tok in self._backend.generate(ids, task.max_tokens, ignore_eos=True):
            last = now_ns()
            first = first or last
            if self._lib.llama_vocab_is_eog(self._vocab, tok):
                finish = "stop"
                break
            tokens.append(tok)
        text = self._llm.detokenize(tokens).decode("utf-8", errors="replace")
        # the end-of-generation token was computed too: it counts as output (and as cost)
        generated = len(tokens) + (finish == "stop")
        return Answer(text, len(ids), generated, None if first is None else (first - send) / 1e9,
                      None if last is None else (last - send) / 1e9, finish, "llama.cpp tokenizer")
