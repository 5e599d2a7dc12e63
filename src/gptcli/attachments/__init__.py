"""Attachments (``-a/--attach``, issue 19): images, PDFs, audio and text files sent with a question.

``detect`` reads a FILE, URL or ``-`` and says what it is (from the content, not the
name) and whether its size is allowed; ``parts`` turns it into Chat Completions content
parts and back into a short description; ``image_tokens`` holds OpenAI's rules for what an
image costs per model family; ``media`` counts every non-text part for the preflight;
``capable`` refuses a model that takes no such input before anything is sent; ``stash``
stores the bytes once by content hash under the data dir so the log can refer to them.

Nothing here is imported at ``gptcli --help`` or ``count`` start-up unless a part or
``-a`` is there; filetype, Pillow and pypdf are imported inside the functions that need them.
"""
