"""The wire-level fake model server now lives in promptrail.devserver (shipped, so the README's
tour can run offline); tests and benches import it from here as before."""

from promptrail.devserver import (  # noqa: F401
    FAKE_ANTHROPIC_KEY,
    FAKE_OPENAI_KEY,
    FakeLLMServer,
    Responder,
    env_for,
    last_user,
    main,
    outputs_responder,
    text_of,
    tokens,
)

if __name__ == "__main__":
    main()
