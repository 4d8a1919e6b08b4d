"""Pipeline errors.

PipelineError
  ToolError      a tool could not run; its message goes back to the LLM as the tool's answer
"""

from voicegrid.core.errors import VoicegridError


class PipelineError(VoicegridError):
    pass


class ToolError(PipelineError):
    pass
