"""``local`` audio model ``espeak``: eSpeak NG speech from the ``espeakng-loader`` wheel.

The library is driven through ctypes (signatures from espeak-ng's ``speak_lib.h``). It keeps
global state, so one lock serialises every use, it is initialised once per process, and
synthesis runs in a worker thread so the event loop keeps going.
"""

from __future__ import annotations

import asyncio
import ctypes
import io
import threading
import wave
from dataclasses import dataclass

from runner.errors import PermanentError, UnavailableError
from runner.providers.base import GenerationRequest, GenerationResult, Usage
from runner.providers.local.params import int_param, str_param

# Constants from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # like RETRIEVAL, but espeak_Synth returns when done
_INITIALIZE_DONT_EXIT = 0x8000  # report missing data instead of exit()ing the process
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK, _EE_NOT_FOUND = 0, 2
_PARAM_RATE = 1
_BUFFER_MS = 0  # 0 = library default (60 ms)
_RATE_RANGE = (80, 450)  # espeakRATE_MINIMUM .. espeakRATE_MAXIMUM

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events)
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class Speech:
    wav: bytes
    sample_rate: int
    samples: int

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate


async def generate(request: GenerationRequest) -> GenerationResult:
    text = request.prompt.strip()
    if not text:
        raise PermanentError("nothing to say: the prompt is empty")
    voice = str_param(request.params, "voice", "en")
    rate = int_param(request.params, "rate", 165, *_RATE_RANGE)
    speech = await asyncio.to_thread(synthesize, text, voice=voice, rate=rate)
    return GenerationResult(
        media_type="audio",
        mime="audio/wav",
        data=speech.wav,
        usage=Usage(characters=len(text), seconds=round(speech.duration_s, 3)),
        metadata={"voice": voice, "rate": rate, "sample_rate": speech.sample_rate},
    )


def synthesize(text: str, *, voice: str = "en", rate: int = 165) -> Speech:
    """Speak ``text`` with eSpeak NG; return 16-bit mono WAV bytes. Blocking."""
    engine = _Engine.get()
    with engine.lock:
        return engine.speak(text, voice, rate)


class _Engine:
    _instance: _Engine | None = None
    _create_lock = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError, RuntimeError) as exc:
            raise UnavailableError(f"eSpeak NG is not available: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,  # const void *text
            ctypes.c_size_t,  # size
            ctypes.c_uint,  # position
            ctypes.c_int,  # position_type
            ctypes.c_uint,  # end_position
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unsigned int *unique_identifier
            ctypes.c_void_p,  # void *user_data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise UnavailableError(f"eSpeak NG failed to initialise with data at {data_path}")
        self._chunks: list[bytes] = []
        # Held on self: ctypes callbacks must outlive every call that may invoke them.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib

    @classmethod
    def get(cls) -> _Engine:
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: int) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # continue synthesis

    def speak(self, text: str, voice: str, rate: int) -> Speech:
        status = self.lib.espeak_SetVoiceByName(voice.encode())
        if status == _EE_NOT_FOUND:
            raise PermanentError(f"eSpeak NG has no voice {voice!r}")
        if status != _EE_OK:
            raise PermanentError(f"eSpeak NG could not select voice {voice!r} (error {status})")
        self.lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        encoded = text.encode("utf-8")
        self._chunks = []
        status = self.lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self.lib.espeak_Synchronize()
        pcm, self._chunks = b"".join(self._chunks), []
        if status != _EE_OK:
            raise PermanentError(f"eSpeak NG synthesis failed (error {status})")
        if not pcm:
            raise PermanentError("eSpeak NG produced no audio for this text")
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate)
            wav.writeframes(pcm)
        return Speech(wav=out.getvalue(), sample_rate=self.sample_rate, samples=len(pcm) // 2)
