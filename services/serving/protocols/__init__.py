"""Wire protocols besides /v1/predict: each maps its request/response shapes onto the shared fast path."""
