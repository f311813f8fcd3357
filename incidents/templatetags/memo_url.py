"""Django's `{% url %}` with a memo: a reversal is computed once per process, then looked up.

The incident room reverses ~70 URLs per render and Django's `reverse` takes ~19 µs each: about 1.3 ms of the
room's 16 ms server time (bench `pages`). A reversal depends only on the view name, the arguments (value and
type: `1` and `True` are equal keys but different paths) and the URL configuration in force — the request's
urlconf and the setting, the script prefix, the language (for translated patterns) and the current app — so
those are the key. Arguments that cannot be hashed are reversed every time.

Registered as a template builtin (settings.TEMPLATES), which puts this `url` in place of Django's in every
template. Parsing, `as var`, escaping and NoReverseMatch are Django's own (URLNode); only the lookup differs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template import Context, Library
from django.template.base import Parser, Token
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = Library()

MEMO_SIZE = 20_000  # ~70 paths an incident: a few hundred incidents' worth, then it starts again
_memo: dict[tuple[Any, ...], str] = {}


def memo_reverse(view_name: str, args: list[Any], kwargs: dict[str, Any], current_app: str | None) -> str:
    """`reverse(...)`, remembered. Raises NoReverseMatch as `reverse` does (a failure is not remembered)."""
    try:
        key = (
            view_name,
            tuple((type(a), a) for a in args),
            tuple(sorted((k, type(v), v) for k, v in kwargs.items())),
            current_app,
            get_urlconf(),
            settings.ROOT_URLCONF,
            get_script_prefix(),
            get_language(),
        )
        found = _memo.get(key)
    except TypeError:  # an unhashable argument
        return reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
    if found is None:
        found = reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
        if len(_memo) >= MEMO_SIZE:
            _memo.clear()
        _memo[key] = found
    return found


class MemoURLNode(URLNode):
    def render(self, context: Context) -> str:
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {k: v.resolve(context) for k, v in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app  # type: ignore[attr-defined]
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace  # type: ignore[attr-defined]
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = memo_reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser: Parser, token: Token) -> MemoURLNode:
    node = django_url(parser, token)
    return MemoURLNode(node.view_name, node.args, node.kwargs, node.asvar)
