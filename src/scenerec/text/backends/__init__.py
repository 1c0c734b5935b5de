"""The built-in text encoder backends, one module each.

- ``sentence``: sentence-transformers, the reference (``SentenceEncoder``).
- ``onnx``: the same model exported to ONNX and run with onnxruntime (``OnnxEncoder``), with
  the export and int8 quantisation in ``onnx_export`` and the session and pooling in
  ``onnx_runtime``.
- ``hashing``: hashed word and character n-grams, no language model (``HashingEncoder``).
- ``base``: what they share (``BatchedEncoder``, ``make_fingerprint``, ``progress_bar``).
- ``model_files``: finding and loading a language model's files (``resolve_model``,
  ``load_sentence_model``) and ``ModelEncoder``, the base of ``sentence`` and ``onnx``.

``scenerec.text.encoder`` names them in its registry by module path and imports a backend
only when it is first built; this package imports nothing on its own.
"""
