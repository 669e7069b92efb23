"""Request traces in their users' own formats, read into one frame.

The frame has `input_tokens`, `output_tokens` and `arrival_s` (seconds from the first request, NaN where the
trace has no times), and `hash_ids` (each prompt's 512-token block ids) where a Mooncake trace has them. Every
token count is a whole number in [0, MAX_TOKENS] and every time is finite: a file that is not a trace is refused
with one line that never quotes its contents, from its first MiB when that shows it is none.

One module per format (FORMATS names them); `detect` tells them apart by content, `times` reads time units.
"""

from energy_predict.traces.base import Trace, TraceWarning
from energy_predict.traces.detect import FORMATS, detect_format
from energy_predict.traces.reader import load_trace, read_trace
from energy_predict.traces.times import SECONDS_PER_UNIT

__all__ = ["FORMATS", "SECONDS_PER_UNIT", "Trace", "TraceWarning", "detect_format", "load_trace", "read_trace"]
