"""Releases for training: a reviewed run rendered into trainers' formats (ms-swift, LLaVA,
ShareGPT, MERR, EMER), leak-free splits by source, person and near-duplicate group, label spaces,
and the Hugging Face card. ``emodata.review.export`` orchestrates; each module here is one idea.
"""
