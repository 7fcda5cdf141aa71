"""Live streaming on the device: sources (serial, microphone, file, stdin) -> engines (ECG, mosquito) -> outputs.

numpy only at module level; pyserial, sounddevice and soundfile are imported inside the source that
needs them, so the bare device install (numpy + onnxruntime/LiteRT) can run a file or stdin source.
"""
