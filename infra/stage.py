"""The base of every pipeline-stage component: a type token per stage and children that wait like their parent."""

from __future__ import annotations

import pulumi


class Stage(pulumi.ComponentResource):
    """A ComponentResource typed `customer360:<module>:<Type>` whose children inherit its depends_on.

    Pulumi does not pass a component's depends_on to its children, so a bucket declared
    inside a component that waits for the APIs would not wait itself; `child()` does that.
    """

    def __init__(self, module: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"customer360:{module}:{type(self).__name__}", name, None, opts)
        depends_on = opts.depends_on if opts is not None else None
        if depends_on is None:
            self._waits_for: list = []
        elif isinstance(depends_on, (list, tuple)):
            self._waits_for = list(depends_on)
        else:
            self._waits_for = [depends_on]

    def child(self, *, depends_on: list | None = None, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=self._waits_for + list(depends_on or []), **kwargs)

    def invoke_options(self) -> pulumi.InvokeOutputOptions:
        return pulumi.InvokeOutputOptions(parent=self, depends_on=self._waits_for)
