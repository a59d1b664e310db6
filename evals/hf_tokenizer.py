"""The project's SentencePiece tokenizer as a Hugging Face `tokenizers` BPE (tokenizer.json), same ids.

SentencePiece BPE encoding (bpe_model.cc) splits the normalized text into characters, user-defined symbols
(never merged) and byte-fallback bytes for characters outside the vocabulary, then repeatedly merges the
adjacent pair whose concatenation is the highest-scoring piece. A `tokenizers` BPE with the same vocabulary,
one merge per (left, right) split of every normal piece ranked by that piece's score, byte fallback, the
user-defined symbols as non-special added tokens and no pre-tokenizer performs the same merges.

Two rules of tokens/tokenizer.py need care:
  * spaces are written as U+2581 inside pieces, and a *literal* U+2581 in the text must come out as its
    three byte-fallback ids. In the exported vocabulary every U+2581 of a piece is replaced by SPACE_MARK
    (U+FDD0, a Unicode noncharacter reserved for internal use) and the normalizer maps " " to it; a literal
    U+2581 then has no piece and falls back to its bytes, exactly as the project encodes it. The decoder
    maps SPACE_MARK back to " ". Text containing U+FDD0 itself is the one input encoded differently (the
    project falls back to its bytes, the export reads it as a space).
  * control pieces (<pad>, <s>, </s>, <unk>) are never produced from text: "</s>" in a document is
    encoded as characters. They are listed as special tokens with `split_special_tokens`, so transformers
    does not match them in text either.
"""
from __future__ import annotations

import json

SPACE = "\u2581"
SPACE_MARK = "\ufdd0"


def _piece(text: str) -> str:
    return text.replace(SPACE, SPACE_MARK)


def tokenizer_json(model_proto: bytes) -> dict:
    """The `tokenizers` JSON (tokenizer.json body) equivalent to the SentencePiece model `model_proto`."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model_proto)
    size = sp.get_piece_size()
    types = piece_types(model_proto)
    if len(types) != size:
        raise ValueError(f"read {len(types)} piece types from the model, SentencePiece reports {size} pieces")
    user = {i for i, kind in enumerate(types) if kind == USER_DEFINED}
    vocab = {_piece(sp.id_to_piece(i)): i for i in range(size)}
    if len(vocab) != size:
        raise ValueError("the SentencePiece model has pieces that collide once U+2581 becomes U+FDD0")
    normal = [i for i in range(size) if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i)
                                             or sp.is_unused(i) or i in user)]
    mergeable = {_piece(sp.id_to_piece(i)) for i in normal}
    ranked = sorted(normal, key=lambda i: (-sp.get_score(i), i))
    merges = []
    for i in ranked:
        piece = _piece(sp.id_to_piece(i))
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece))
                  if piece[:k] in mergeable and piece[k:] in mergeable]
        merges.extend(sorted(splits, key=lambda pair: (vocab[pair[0]], vocab[pair[1]])))
    added = []
    for i in range(size):
        special = sp.is_control(i) or sp.is_unknown(i)
        if special or i in user:
            added.append({"id": i, "content": _piece(sp.id_to_piece(i)), "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": not special, "special": special})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARK},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE_MARK}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": sp.id_to_piece(sp.unk_id()),
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": True, "ignore_merges": False, "vocab": vocab,
                  "merges": [[left, right] for left, right in merges]},
    }


USER_DEFINED = 4   # sentencepiece_model.proto: ModelProto.SentencePiece.Type


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _fields(message: bytes, what: str):
    """(field, value) for each field of a protobuf message: an int for varints, the bytes for
    length-delimited fields, None for fixed-width ones (skipped)."""
    at = 0
    while at < len(message):
        key, at = _varint(message, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(message, at)
        elif wire == 1:
            value, at = None, at + 8
        elif wire == 5:
            value, at = None, at + 4
        elif wire == 2:
            length, at = _varint(message, at)
            value, at = message[at:at + length], at + length
        else:
            raise ValueError(f"not a SentencePiece {what} (wire type {wire})")
        yield field, value


def piece_types(model_proto: bytes) -> list[int]:
    """The type of every piece, read from the protobuf wire format (ModelProto field 1 = pieces, each with
    field 3 = type, default NORMAL = 1). Read by hand: sentencepiece's generated _pb2 needs a newer
    protobuf runtime than the one this project pins."""
    return [_piece_type(value) for field, value in _fields(model_proto, "model")
            if field == 1 and isinstance(value, bytes)]


def _piece_type(message: bytes) -> int:
    kind = 1
    for field, value in _fields(message, "piece"):
        if field == 3 and isinstance(value, int):
            kind = value
    return kind


def special_tokens(model_proto: bytes) -> dict:
    """{"bos_token": "<s>", ...} and their ids, from the model (absent ones left out)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model_proto)
    out = {}
    for name, index in (("bos", sp.bos_id()), ("eos", sp.eos_id()), ("unk", sp.unk_id()), ("pad", sp.pad_id())):
        if index >= 0:
            out[name] = (sp.id_to_piece(index), index)
    return out


def write(model_proto: bytes, directory: str, max_length: int) -> list[str]:
    """tokenizer.json, tokenizer_config.json, special_tokens_map.json and the original tokenizer.model
    under `directory` (atomic each); returns the file names."""
    from tokens import paths

    specials = special_tokens(model_proto)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": int(max_length),
              "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False,
              "split_special_tokens": True, "padding_side": "left",
              **{f"{name}_token": piece for name, (piece, _) in specials.items()}}
    bodies = {"tokenizer.json": json.dumps(tokenizer_json(model_proto), ensure_ascii=False, indent=1, allow_nan=False),
              "tokenizer_config.json": json.dumps(config, indent=2, allow_nan=False),
              "special_tokens_map.json": json.dumps({f"{n}_token": p for n, (p, _) in specials.items()}, indent=2, allow_nan=False)}
    for name, text in bodies.items():
        paths.write_atomic(paths.join(directory, name), (text + "\n").encode("utf-8"))
    paths.write_atomic(paths.join(directory, "tokenizer.model"), model_proto)
    return [*bodies, "tokenizer.model"]
