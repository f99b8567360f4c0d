"""`bench quality`: what a quantization loses against its reference, on the same weights.

kld.py holds llama-perplexity's --kl-divergence statistics, windows.py its chunking, text.py the
shipped default text, published.py the per-quant deltas llama.cpp publishes, run.py the command.
"""
