from __future__ import annotations

import io
import subprocess
import wave

import pytest

from emodata.errors import ItemError, Reason
from emodata.media import EncodeSpec, encode_clip, probe, scene_cuts, sniff_container

SPEC = EncodeSpec(
    short_side=120,
    fps=15,
    frame_rate=2,
    crf=30,
    preset="ultrafast",
    audio_rate=16000,
    threads=1,
    timeout_s=60,
)


def test_probe_reads_streams(ffmpeg_clip):
    p = probe(str(ffmpeg_clip(duration=2.0, size="320x240", rate="30")))
    assert p.has_video and p.has_audio
    assert (p.width, p.height) == (320, 240)
    assert p.fps == pytest.approx(30)
    assert p.duration_s == pytest.approx(2.0, abs=0.1)
    assert sniff_container(str(ffmpeg_clip(name="b.mp4"))) == "mp4/mov"


def test_probe_rejects_text_and_truncation(tmp_path, ffmpeg_clip):
    text = tmp_path / "t.mp4"
    text.write_text("hello\n" * 100)
    with pytest.raises(ItemError) as e:
        probe(str(text))
    assert e.value.reason is Reason.UNREADABLE
    src = tmp_path / "src.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(ffmpeg_clip(duration=3)), "-c", "copy", str(src)],
        check=True,
    )  # moov at the end
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ItemError) as e:
        probe(str(cut))
    assert e.value.reason is Reason.TRUNCATED


def test_encode_clip_normalizes(ffmpeg_clip):
    src = ffmpeg_clip(duration=4.0, size="640x360", rate="30")
    clip = encode_clip(str(src), 1.0, 3.0, True, SPEC)
    assert (clip.width, clip.height) == (214, 120)  # short side bounded, aspect kept, even
    with wave.open(io.BytesIO(clip.wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() / 16000 == pytest.approx(2.0, abs=0.05)
    assert len(clip.frames) == pytest.approx(4, abs=1)
    assert all(f[:2] == b"\xff\xd8" for f in clip.frames)


def test_encode_clip_h264_yuv420p_cfr(tmp_path, ffmpeg_clip):
    src = ffmpeg_clip(duration=3.0, size="360x640", rate="12.5")
    clip = encode_clip(str(src), 0.0, 3.0, True, SPEC)
    out = tmp_path / "o.mp4"
    out.write_bytes(clip.mp4)
    info = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,pix_fmt,avg_frame_rate,width,height",
            "-of",
            "csv=p=0",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert info == "h264,120,214,yuv420p,15/1"


@pytest.mark.parametrize(
    ("size", "rate", "span"), [("640x360", "30", (0.5, 3.1)), ("360x640", "12.5", (0.0, 2.0))]
)
def test_encoded_clip_measures_as_ffprobe_reads_it(tmp_path, ffmpeg_clip, size, rate, span):
    """The clip's size and video length are read in-process; they are what ffprobe says of the
    MP4, and its sound is AAC."""
    src = ffmpeg_clip(duration=4.0, size=size, rate=rate)
    clip = encode_clip(str(src), *span, True, SPEC)
    out = tmp_path / "o.mp4"
    out.write_bytes(clip.mp4)
    seen = probe(str(out))
    assert (clip.width, clip.height) == (seen.width, seen.height)
    assert clip.video_duration_s == pytest.approx(seen.video_duration_s, abs=1e-3)
    assert clip.video_duration_s == pytest.approx(span[1] - span[0], abs=1 / 15 + 1e-3)
    assert seen.audio_codec == "aac"


def test_video_only_clip_has_no_wav(ffmpeg_clip):
    clip = encode_clip(str(ffmpeg_clip(audio=False)), 0.0, 2.0, False, SPEC)
    assert clip.wav is None and clip.mp4


def test_scene_cuts_find_a_hard_cut(tmp_path):
    out = tmp_path / "cut.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=160x120:d=2:r=25",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=160x120:d=2:r=25",
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(out),
        ],
        check=True,
    )
    cuts = scene_cuts(str(out), 0.3, 60)
    assert len(cuts) >= 1
    assert cuts[0] == pytest.approx(2.0, abs=0.1)


def test_a_probe_that_times_out_is_retried_not_filtered(monkeypatch, ffmpeg_clip):
    from emodata.errors import Kind, kind_of

    def slow(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(ItemError) as e:
        probe(str(ffmpeg_clip), timeout_s=0.5)
    assert "longer than 0.5s" in e.value.message
    assert kind_of(e.value.reason) == Kind.FAILED  # the next run probes it again
