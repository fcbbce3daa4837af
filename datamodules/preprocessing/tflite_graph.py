"""Run a TFLite model whose graph contains custom ops that LiteRT lacks, by cutting it at those ops.

:class:`SegmentedModel` reads the model flatbuffer (``ai_edge_litert``'s generated schema, object
API), gives every tensor a *stage* (model inputs and constants 0; an ordinary op's outputs the
highest stage of its inputs; a custom op's outputs one more) and writes one standalone model per
stage holding that stage's ordinary ops. Its inputs and outputs are the tensors crossing the stage
boundary. :meth:`SegmentedModel.run` invokes the stages in order with LiteRT and computes each
custom op in Python in between (``custom_ops``: name -> ``op(inputs, options)``, the options
decoded from the op's flexbuffer). Tensor indices are kept, so every segment shares the original
numbering.

Example:
    >>> from datamodules.preprocessing.mediapipe_ops import CUSTOM_OPS  # doctest: +SKIP
    >>> model = SegmentedModel("face_landmark_with_attention.tflite", CUSTOM_OPS)  # doctest: +SKIP
    >>> outputs = model.run({"input_1": crop[None]})  # name -> array  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datamodules.preprocessing.mediapipe_ops import CustomOp


class ModelGraphError(ValueError):
    """A model file cannot be parsed or needs a custom op that has no implementation."""


@dataclass
class CustomCall:
    """One custom op of the graph: its name, decoded options and tensor indices."""

    name: str
    options: dict[str, Any]
    inputs: list[int]
    outputs: list[int]


@dataclass
class Segment:
    """A standalone sub-model of one stage and the tensor indices it reads and writes."""

    stage: int
    content: bytes
    inputs: list[int]
    outputs: list[int]
    interpreter: Any = field(default=None, repr=False)


def _load_model(source: str | Path | bytes):
    """Unpack a model flatbuffer into the schema's object API (``ModelT``)."""
    from ai_edge_litert import schema_py_generated as schema

    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    name = "model bytes" if isinstance(source, bytes) else str(source)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelGraphError(f"{name} is not a TFLite model (no TFL3 identifier)")
    try:
        return schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise ModelGraphError(f"{name}: cannot parse the TFLite flatbuffer ({exc})") from exc


def _pack(model) -> bytes:
    """Serialise a ``ModelT`` back into TFLite flatbuffer bytes."""
    import flatbuffers

    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _decode_options(raw) -> dict[str, Any]:
    """A custom op's flexbuffer options as a plain dict (``{}`` when absent)."""
    if raw is None or len(raw) == 0:
        return {}
    from flatbuffers import flexbuffers

    decoded = flexbuffers.Loads(bytes(bytearray(raw)))
    return dict(decoded) if isinstance(decoded, dict) else {"value": decoded}


class SegmentedModel:
    """A TFLite model run as LiteRT segments split at its custom ops (see the module docstring)."""

    def __init__(self, source: str | Path | bytes, custom_ops: Mapping[str, CustomOp], num_threads: int = 1) -> None:
        model = _load_model(source)
        self.source = "model bytes" if isinstance(source, bytes) else str(source)
        graph = model.subgraphs[0]
        codes = model.operatorCodes
        constant = {i for i, t in enumerate(graph.tensors)
                    if t.buffer is not None and model.buffers[t.buffer].data is not None}
        stage = {int(i): 0 for i in graph.inputs}
        op_stage, self.calls = [], []
        for op in graph.operators:
            code = codes[op.opcodeIndex]
            if not code.customCode and all(int(i) in constant for i in op.inputs if i >= 0):
                constant.update(int(o) for o in op.outputs)  # e.g. DEQUANTIZE of fp16 weights
                op_stage.append(None)  # copied into every segment that reads its outputs
                continue
            level = max((stage.get(int(i), 0) for i in op.inputs if i >= 0 and int(i) not in constant), default=0)
            if code.customCode:
                name = code.customCode.decode()
                if name not in custom_ops:
                    raise ModelGraphError(f"{self.source}: custom op {name!r} has no implementation")
                if any(int(i) in constant for i in op.inputs if i >= 0):
                    raise ModelGraphError(f"{self.source}: custom op {name!r} reads a constant tensor (not supported)")
                self.calls.append(CustomCall(name, _decode_options(op.customOptions),
                                             [int(i) for i in op.inputs], [int(i) for i in op.outputs]))
                level += 1
                op_stage.append(-level)  # negative: custom op producing stage `level`
            else:
                op_stage.append(level)
            for out in op.outputs:
                stage[int(out)] = level
        self.stage_of = stage
        self.custom_ops = dict(custom_ops)
        self.names = {int(i): graph.tensors[i].name.decode() for i in list(graph.inputs) + list(graph.outputs)}
        self.model_inputs = [int(i) for i in graph.inputs]
        self.model_outputs = [int(i) for i in graph.outputs]
        self.segments = self._build_segments(model, op_stage, constant, num_threads)

    def _build_segments(self, model, op_stage: list[int], constant: set[int], num_threads: int) -> list[Segment]:
        """One :class:`Segment` per stage with ordinary ops, inputs/outputs at the stage boundary."""
        from ai_edge_litert.interpreter import Interpreter

        graph = model.subgraphs[0]
        operators = list(graph.operators)
        model_outputs = set(self.model_outputs)
        segments = []
        producer = {int(o): k for k, op in enumerate(operators) for o in op.outputs}
        for level in sorted({s for s in op_stage if s is not None and s >= 0}):
            chosen = {k for k, s in enumerate(op_stage) if s == level}
            frontier = [int(i) for k in chosen for i in operators[k].inputs if i >= 0]
            while frontier:  # pull in the constant-only ops (weight dequantisation) this stage reads
                tensor = frontier.pop()
                k = producer.get(tensor)
                if k is not None and op_stage[k] is None and k not in chosen:
                    chosen.add(k)
                    frontier.extend(int(i) for i in operators[k].inputs if i >= 0)
            ops = [operators[k] for k in sorted(chosen)]
            produced = {int(o) for op in ops for o in op.outputs}
            consumed_outside = {int(i) for k, op in enumerate(operators)
                                if op_stage[k] is not None and op_stage[k] != level for i in op.inputs}
            inputs = sorted({int(i) for op in ops for i in op.inputs
                             if i >= 0 and int(i) not in produced and int(i) not in constant})
            outputs = sorted(t for t in produced if t not in constant and (t in consumed_outside or t in model_outputs))
            graph.operators, graph.inputs, graph.outputs = ops, np.array(inputs, np.int32), np.array(outputs, np.int32)
            content = _pack(model)
            interpreter = Interpreter(model_content=content, num_threads=num_threads)
            interpreter.allocate_tensors()
            segments.append(Segment(level, content, inputs, outputs, interpreter))
        graph.operators = operators
        return segments

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Model outputs by tensor name, given the model inputs by tensor name."""
        values: dict[int, np.ndarray] = {}
        for index in self.model_inputs:
            if self.names[index] not in inputs:
                raise KeyError(f"{self.source}: missing input {self.names[index]!r}")
            values[index] = np.asarray(inputs[self.names[index]])
        pending = list(self.calls)
        for segment in self.segments:
            pending = self._run_ready_calls(pending, values, segment.stage)
            for index in segment.inputs:
                segment.interpreter.set_tensor(index, values[index])
            segment.interpreter.invoke()
            for index in segment.outputs:
                values[index] = segment.interpreter.get_tensor(index)
        self._run_ready_calls(pending, values, None)
        return {self.names[i]: values[i] for i in self.model_outputs}

    def _run_ready_calls(self, pending: list[CustomCall], values: dict[int, np.ndarray],
                         before_stage: int | None) -> list[CustomCall]:
        """Run the custom ops whose outputs belong to stages up to ``before_stage``; return the rest."""
        left = []
        for call in pending:
            if before_stage is None or self.stage_of[call.outputs[0]] <= before_stage:
                result = self.custom_ops[call.name]([values[i] for i in call.inputs], call.options)
                values[call.outputs[0]] = result
            else:
                left.append(call)
        return left

    def custom_options(self, name: str) -> list[dict[str, Any]]:
        """Decoded options of every custom op called ``name``, in graph order."""
        return [call.options for call in self.calls if call.name == name]
