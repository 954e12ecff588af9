"""A tiny Qwen2.5-VL built offline, briefly trained to write the VideoScore2 output format.

It exercises the real transformers code path (processor, vision tower, mrope, generate) in tests and
on machines without the 17 GB checkpoint. Its scores mean nothing, and everything that shows its
output says so (``SMOKE_MODEL`` marker file → ``ModelInfo.smoke``).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.options import OFFICIAL_FPS, OFFICIAL_TEMPERATURE
from vs2demo.input.prompt import messages, user_text

VERSION = "1"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen2's pre-tokenizer: digits split one by one, so "1"…"5" are single tokens as in the real vocab.
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
# Qwen2-VL's chat template (default system turn, vision placeholders, generation prompt).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PROMPTS = ["a red ball bouncing on a wooden floor", "a cat jumping onto a sofa", "waves crashing on rocks at sunset",
           "a city street at night with neon signs", "a chef slicing vegetables", "a dog running in the snow",
           "a paper plane flying over a field", "timelapse of clouds over mountains", "一只熊猫在吃竹子",
           "a glass of water tipping over, $5 {price} \"quoted\""]
REASONS = ["The frames are mostly sharp and the motion is smooth.", "The object moves but some frames blur.",
           "The scene matches the prompt and the lighting is stable.", "The motion looks unnatural near the end.",
           "Colours are consistent, though edges flicker slightly.", "The main subject appears as described."]


def cache_dir() -> Path:
    root = os.environ.get("VS2_CACHE") or Path.home() / ".cache" / "vs2demo"
    return Path(root) / f"smoke-v{VERSION}"


def ensure_smoke_model() -> Path:
    """Build the smoke model into the cache once; later calls return the folder at once."""
    target = cache_dir()
    if (target / "SMOKE_MODEL").exists():
        return target
    return build_smoke_model(target)


def target_text(rng: random.Random) -> str:
    scores = "\n".join(f"({i}) {d.label}: {rng.randint(1, 5)}" for i, d in enumerate(DIMENSIONS, 1))
    return f"<think>{rng.choice(REASONS)} {rng.choice(REASONS)}</think>\n{scores}"


def _tokenizer(corpus: list[str]):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIALS[1:], model_max_length=32768, chat_template=CHAT_TEMPLATE,
    )


def _config(tokenizer):
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    text = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                  fullatt_block_indexes=[1], tokens_per_second=2, window_size=112)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                            video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                            vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=True)


def build_smoke_model(target: str | os.PathLike, steps: int = 700, seed: int = 0) -> Path:
    """Build, train briefly and save the smoke model into ``target`` (about a minute on two CPU cores)."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    start = time.perf_counter()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    target = Path(target)
    corpus = [user_text(p) for p in PROMPTS] + [target_text(rng) for _ in range(200)] + [
        "You are a helpful assistant. system user assistant"]
    tokenizer = _tokenizer(corpus)
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
                                    tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    model = Qwen2_5_VLForConditionalGeneration(_config(tokenizer))
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=OFFICIAL_TEMPERATURE, top_k=50, top_p=0.95, repetition_penalty=1.05,
        bos_token_id=model.config.text_config.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id],
    )
    _train(model, processor, rng, steps)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "SMOKE_MODEL").write_text(
        f"vs2demo smoke model v{VERSION}: a tiny test model, not VideoScore2; its scores mean nothing.\n"
        f"Built in {time.perf_counter() - start:.0f} s.\n")
    if target.exists():  # another process built it meanwhile
        import shutil

        shutil.rmtree(tmp)
        return target
    tmp.rename(target)
    return target


def _train(model, processor, rng: random.Random, steps: int) -> None:
    import torch

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for _ in range(steps):
        # tiny random clips of varying sizes, so any clip the tests make looks familiar enough
        frames = torch.randint(0, 256, (2 * rng.randint(1, 5), 3, 28 * rng.randint(2, 8), 28 * rng.randint(2, 8)),
                               dtype=torch.uint8)
        chat = processor.apply_chat_template(messages(rng.choice(PROMPTS), "clip.mp4"), tokenize=False,
                                             add_generation_prompt=True)
        answer = target_text(rng) + "<|im_end|>"
        batch = processor(text=[chat + answer], videos=[frames], do_sample_frames=False, return_tensors="pt",
                          fps=OFFICIAL_FPS, cap_pixels_per_frame=False)
        n_answer = len(processor.tokenizer(answer)["input_ids"])
        labels = torch.full_like(batch["input_ids"], -100)
        labels[:, -n_answer:] = batch["input_ids"][:, -n_answer:]
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    model.eval()
