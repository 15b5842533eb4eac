"""Thin, typed wrappers over ffprobe and ffmpeg. Failures become ``ItemError`` with a reason."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from emodata.errors import ItemError, Reason

_TRUNCATED_HINTS = ("moov atom not found", "partial file", "end of file", "truncat")
_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "gif", "tiff_pipe"}


def require_tools() -> None:
    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not found on PATH: install FFmpeg (make setup)")


def ffmpeg_version() -> str:
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


@dataclass(frozen=True)
class Probe:
    duration_s: float
    format_name: str
    video_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    has_video: bool
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None
    #: the video stream's own duration (the container's may be the audio's)
    video_duration_s: float | None = None


def _rate(text: str | None) -> float | None:
    if not text or text in {"0/0", "N/A"}:
        return None
    try:
        value = float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def probe(path: str, timeout_s: float = 60) -> Probe:
    """Probe a local file; raise ItemError with the reason it cannot be used."""
    cmd = [
        "ffprobe",
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        path,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        # a slow probe says more about the machine (a loaded node, a slow disk) than about the
        # file: a failure, retried by the next run, not a decision kept on record
        raise ItemError(Reason.FFMPEG_ERROR, f"ffprobe took longer than {timeout_s}s") from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        low = stderr.lower()
        container = sniff_container(path)
        if container is None:
            raise ItemError(Reason.UNREADABLE, "not a media file (no known container signature)")
        truncated = any(h in low for h in _TRUNCATED_HINTS)
        reason = Reason.TRUNCATED if truncated else Reason.UNREADABLE
        last = stderr.splitlines()[-1].replace(path, "<input>") if stderr else "failed"
        raise ItemError(reason, f"{container} container: ffprobe: {last}")
    info = json.loads(proc.stdout or b"{}")
    fmt = info.get("format", {})
    streams = info.get("streams", [])
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    format_name = fmt.get("format_name", "")
    duration = _duration(fmt, video, audio)
    is_image = format_name in _IMAGE_FORMATS or (video is not None and duration is None)
    width = height = None
    if video is not None:
        width, height = int(video.get("width") or 0) or None, int(video.get("height") or 0) or None
        rotation = _rotation(video)
        if rotation in (90, 270) and width and height:
            width, height = height, width
    return Probe(
        duration_s=duration or 0.0,
        format_name=format_name,
        video_codec=video.get("codec_name") if video else None,
        width=width,
        height=height,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
        if video
        else None,
        has_video=video is not None and not is_image,
        has_audio=audio is not None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        video_duration_s=_duration(video, None, None) if video else None,
    )


_SIGNATURES = (
    (4, b"ftyp", "mp4/mov"),
    (4, b"moov", "mp4/mov"),
    (4, b"mdat", "mp4/mov"),
    (4, b"free", "mp4/mov"),
    (4, b"wide", "mp4/mov"),
    (4, b"skip", "mp4/mov"),
    (0, b"\x1a\x45\xdf\xa3", "matroska/webm"),
    (0, b"FLV", "flv"),
    (0, b"\x30\x26\xb2\x75", "asf/wmv"),
    (0, b"\x00\x00\x01\xba", "mpeg-ps"),
)


def sniff_container(path: str) -> str | None:
    """Name of the container the first bytes announce, or None for non-media files."""
    with open(path, "rb") as f:
        head = f.read(376)
    for offset, magic, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "avi"
    if len(head) >= 376 and head[0] == head[188] == 0x47:
        return "mpeg-ts"
    return None


def _duration(fmt: dict, video: dict | None, audio: dict | None) -> float | None:
    for src in (fmt, video or {}, audio or {}):
        try:
            value = float(src.get("duration", "nan"))
        except (TypeError, ValueError):
            continue
        if value == value and value > 0:
            return value
    return None


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return abs(int(float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return abs(int(tag)) % 360 if tag else 0


_PTS = re.compile(r"pts_time:\s*([0-9.]+)")


def scene_cuts(path: str, threshold: float, timeout_s: float, threads: int = 1) -> list[float]:
    """Times (s) where FFmpeg's scene score exceeds ``threshold``, on a small decoded copy."""
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-threads",
        str(threads),
        # the deblocking filter changes nothing a scene score on a 128-pixel copy sees, and is
        # a fifth of an H.264 decode
        "-skip_loop_filter",
        "all",
        "-i",
        path,
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        f"scale=128:-2:flags=fast_bilinear,select='gt(scene,{threshold})',showinfo",
        "-f",
        "null",
        "-",
    ]
    proc = _run(cmd, timeout_s)
    return sorted({round(float(m.group(1)), 3) for m in _PTS.finditer(proc.stderr)})


def _run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise ItemError(Reason.FFMPEG_ERROR, f"ffmpeg took longer than {timeout_s}s") from None
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit {proc.returncode}"
        raise ItemError(Reason.FFMPEG_ERROR, f"ffmpeg: {tail}")
    return proc


@dataclass(frozen=True)
class EncodeSpec:
    short_side: int
    fps: float
    frame_rate: float
    crf: int
    preset: str
    audio_rate: int
    threads: int
    timeout_s: float
    #: decoder threads (0: FFmpeg's choice); decoding does not change the output's bytes
    decode_threads: int = 1


@dataclass
class EncodedClip:
    mp4: bytes
    wav: bytes | None
    frames: list[bytes]
    width: int
    height: int
    #: measured on the outputs: the MP4's video stream and the WAV (None without audio)
    video_duration_s: float | None = None
    audio_duration_s: float | None = None
    #: what FFmpeg reported at ``-v error`` while it still finished: decode errors of the source
    decode_errors: list[str] = field(default_factory=list)


def scale_filter(short_side: int) -> str:
    """Bound the short side (never upscale), keep aspect, even dimensions, square pixels."""
    s = short_side
    return (
        f"scale=w='if(gte(iw*sar,ih),-2,min({s},trunc(iw*sar/2)*2))'"
        f":h='if(gte(iw*sar,ih),min({s},trunc(ih/2)*2),-2)',setsar=1"
    )


def encode_clip(
    path: str, start_s: float, end_s: float, has_audio: bool, spec: EncodeSpec
) -> EncodedClip:
    """One FFmpeg pass: normalized H.264 MP4, 16 kHz mono WAV and sampled JPEG frames."""
    with tempfile.TemporaryDirectory(prefix="emodata-seg-") as tmp:
        out = Path(tmp)
        scale = scale_filter(spec.short_side)
        cmd = [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-threads",
            str(spec.decode_threads),
            "-ss",
            f"{start_s:.3f}",
            "-t",
            f"{end_s - start_s:.3f}",
            "-i",
            path,
            # one scale of the decoded frames feeds both the clip and the sampled frames; the
            # format is fixed before the split, or the scaler negotiates one that both encoders
            # accept and each branch converts again (a fifth more CPU on a 720p source)
            "-filter_complex",
            f"[0:v:0]{scale},format=yuv420p,split=2[s0][s1];"
            f"[s0]fps={spec.fps}[v];[s1]fps={spec.frame_rate}[f]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            spec.preset,
            "-crf",
            str(spec.crf),
            "-pix_fmt",
            "yuv420p",
            "-threads",
            str(spec.threads),
            "-x264-params",
            "log-level=error",
        ]
        if has_audio:
            # the fast coder: the default two-loop search takes three times its CPU, about a
            # tenth of a clip's whole encode
            cmd += ["-map", "0:a:0", "-c:a", "aac", "-aac_coder", "fast", "-b:a", "96k", "-ac", "1"]
        cmd += [
            "-movflags",
            "+faststart",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            str(out / "clip.mp4"),
        ]
        if has_audio:
            # padded with silence to the clip's length, so WAV time == clip time
            cmd += [
                "-map",
                "0:a:0",
                "-vn",
                "-af",
                "apad",
                "-t",
                f"{end_s - start_s:.3f}",
                "-ac",
                "1",
                "-ar",
                str(spec.audio_rate),
                "-c:a",
                "pcm_s16le",
                "-map_metadata",
                "-1",
                "-fflags",
                "+bitexact",
                str(out / "clip.wav"),
            ]
        cmd += ["-map", "[f]", "-an", "-q:v", "3", str(out / "frame%04d.jpg")]
        proc = _run(cmd, spec.timeout_s)
        mp4 = (out / "clip.mp4").read_bytes()
        if not mp4:
            raise ItemError(Reason.FFMPEG_ERROR, "ffmpeg wrote an empty clip")
        wav = (out / "clip.wav").read_bytes() if has_audio else None
        frames = [p.read_bytes() for p in sorted(out.glob("frame*.jpg"))]
        width, height, video_s = _measure_video(out / "clip.mp4")
        return EncodedClip(
            mp4=mp4,
            wav=wav,
            frames=frames,
            width=width,
            height=height,
            video_duration_s=video_s,
            audio_duration_s=wav_seconds(wav) if wav is not None else None,
            decode_errors=[
                line.replace(path, "<input>") for line in proc.stderr.splitlines() if line.strip()
            ],
        )


def _measure_video(path: Path) -> tuple[int, int, float | None]:
    """Width, height and video length of an MP4 this module wrote, read in-process from its
    header (frames / frame rate): an ffprobe per clip costs a tenth of a second of CPU."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise ItemError(Reason.FFMPEG_ERROR, "ffmpeg wrote a clip that cannot be opened")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames, rate = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    return width, height, round(frames / rate, 6) if frames > 0 and rate > 0 else None


def wav_seconds(data: bytes) -> float:
    """Length of 16-bit PCM WAV bytes, from its header."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


def wav_to_float32(data: bytes) -> np.ndarray:
    """16-bit PCM WAV bytes -> mono float32 samples in [-1, 1]."""
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        channels = w.getnchannels()
    audio = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return audio.reshape(-1, channels).mean(axis=1) if channels > 1 else audio


def float32_to_wav(audio: np.ndarray, rate: int = 16000) -> bytes:
    """Mono float samples in [-1, 1] -> 16-bit PCM WAV bytes (the inverse of wav_to_float32)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()
