"""annotate: multi-agent LLM annotation of clips into an affective tree.

The agents (perceiver, listener, reasoner, critic, qa writer) talk to one backend interface
(OpenAI-compatible HTTP, vLLM engine actors that live for the run, transformers in-process);
every response is schema-checked, cached by content and counted in tokens and cost.
"""
