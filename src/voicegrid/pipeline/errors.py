"""Pipeline errors.

PipelineError
  ToolError      a tool could not run; its message goes back to the LLM as the tool's answer
  ToolTestsBusy  too many tool tests under way (for the business, or on this node)
"""

from voicegrid.core.errors import VoicegridError


class PipelineError(VoicegridError):
    pass


class ToolError(PipelineError):
    pass


class ToolTestsBusy(PipelineError):
    pass
