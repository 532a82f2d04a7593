"""An nbgrader preprocessor that caps the size of outputs (nbgrader's own LimitOutput counts lines).

A single line of a gigabyte, or a huge image, passes ``LimitOutput``; this cuts any output over
``max_bytes`` and stops keeping outputs once a notebook holds ``max_notebook_bytes``, so a
submission cannot fill the course's disk through its autograded notebook or feedback.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

NOTE = "... [output of {size:,} bytes cut by the grader: limit {limit:,}] ..."


def _size(output: NotebookNode) -> int:
    if output.get("output_type") == "stream":
        return len(output.get("text", "").encode(errors="replace"))
    if output.get("output_type") == "error":
        return sum(len(line) for line in output.get("traceback", []))
    return sum(len(str(value)) for value in output.get("data", {}).values())


class LimitOutputSize(NbGraderPreprocessor):
    """Cut any cell output larger than ``max_bytes``; drop outputs past ``max_notebook_bytes``."""

    max_bytes = Integer(1 << 20, help="largest output kept whole, in bytes").tag(config=True)
    max_notebook_bytes = Integer(16 << 20, help="outputs kept per notebook, in bytes").tag(
        config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict,
                   ) -> tuple[NotebookNode, ResourcesDict]:
        kept = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for index, output in enumerate(cell.get("outputs", [])):
                size = _size(output)
                if kept + size > self.max_notebook_bytes:
                    cell.outputs[index] = self._cut(output, size, keep=0)
                elif size > self.max_bytes:
                    cell.outputs[index] = self._cut(output, size, keep=self.max_bytes // 2)
                kept += _size(cell.outputs[index])
        return nb, resources

    def _cut(self, output: NotebookNode, size: int, keep: int) -> NotebookNode:
        """Replace ``output`` by a note (a stream keeps its first ``keep`` characters)."""
        note = NOTE.format(size=size, limit=self.max_bytes)
        if output.get("output_type") == "stream":
            output.text = output.text[:keep] + "\n" + note + "\n"
            return output
        if output.get("output_type") == "error":
            output.traceback = [note]
            return output
        output.data = {"text/plain": note}
        return output


def with_output_size_limit() -> list[type]:
    """nbgrader's autograde preprocessors with `LimitOutputSize` right after its LimitOutput."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import LimitOutput

    preprocessors = list(Autograde.class_traits()["autograde_preprocessors"].default())
    return [step for preprocessor in preprocessors for step in (
        (preprocessor, LimitOutputSize) if preprocessor is LimitOutput else (preprocessor,))]
