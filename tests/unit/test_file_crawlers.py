import subprocess
from pathlib import Path

from llm_engineering.application.crawling.folder import crawl_folder
from llm_engineering.application.crawling.git import crawl_git
from llm_engineering.domain.config.feature_engineering import FolderSource, GitSource
from tests.conftest import SAMPLE_CORPUS


def test_folder_crawler_reads_markdown_html_and_code_and_skips_vendored_and_binary():
    source = FolderSource(name="code", path=SAMPLE_CORPUS / "code")
    result = crawl_folder(source, max_file_bytes=1_000_000)
    names = sorted(Path(d.location).name for d in result.documents)
    assert names == [
        "README.md",
        "bm25_retriever.py",
        "markdown_chunker.py",
        "simple_tokenizer.py",
        "text_normalize.py",
    ]
    skipped = {Path(s.location).name: s.reason for s in result.skipped}
    assert skipped["thirdparty.py"] == "excluded (vendored or generated)"
    assert skipped["index.js"] == "excluded (vendored or generated)"
    assert skipped["logo.png"] == "not matched by include"
    assert all(d.kind == "folder" and len(d.content_hash) == 64 for d in result.documents)


def test_folder_crawler_takes_author_and_title_from_articles():
    result = crawl_folder(FolderSource(name="articles", path=SAMPLE_CORPUS / "articles"), max_file_bytes=1_000_000)
    assert len(result.documents) == 30
    lora = next(d for d in result.documents if d.location.endswith("lora-in-practice.md"))
    assert lora.author and lora.title and lora.format == "markdown"
    html = [d for d in result.documents if d.format == "html"]
    assert len(html) == 8 and all(d.author for d in html)


def test_binary_and_non_utf8_files_are_skipped_with_reasons(tmp_path):
    (tmp_path / "ok.md").write_text("# Fine\n\nText.")
    (tmp_path / "data.txt").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "latin.txt").write_bytes("Caf\u00e9".encode("latin-1"))
    (tmp_path / "big.md").write_text("x" * 2000)
    result = crawl_folder(FolderSource(name="t", path=tmp_path), max_file_bytes=1000)
    skipped = {Path(s.location).name: s.reason for s in result.skipped}
    assert [Path(d.location).name for d in result.documents] == ["ok.md"]
    assert skipped["data.txt"] == "binary file"
    assert skipped["latin.txt"].startswith("not UTF-8")
    assert skipped["big.md"] == "file too large (2000 bytes > 1000)"


def make_repo(path: Path) -> None:
    (path / "src").mkdir(parents=True)
    (path / "src" / "app.py").write_text("def main():\n    return 'hello'\n")
    (path / "README.md").write_text("# Repo\n\nA small repo.\n")
    (path / "vendor").mkdir()
    (path / "vendor" / "lib.py").write_text("x = 1\n")
    (path / "image.bin").write_bytes(b"\x00\x01")
    (path / "untracked.py").write_text("print('not committed')\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=path, check=True)
    subprocess.run([*git, "add", "src", "README.md", "vendor", "image.bin"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=path, check=True)


def test_git_crawler_local_path_reads_tracked_files_only(tmp_path):
    repo = tmp_path / "repo"
    make_repo(repo)
    result = crawl_git(GitSource(name="repo", repository=str(repo)), tmp_path / "clones", 1_000_000)
    files = sorted(d.location.rsplit(":", 1)[1] for d in result.documents)
    assert files == ["README.md", "src/app.py"]
    assert {s.location.rsplit(":", 1)[1]: s.reason for s in result.skipped} == {
        "vendor/lib.py": "excluded (vendored or generated)"
    }
    assert all(d.kind == "git" for d in result.documents)


def test_git_crawler_clones_a_url(tmp_path):
    repo = tmp_path / "repo"
    make_repo(repo)
    source = GitSource(name="remote", repository=f"file://{repo}")
    result = crawl_git(source, tmp_path / "clones", 1_000_000)
    assert sorted(d.location.rsplit(":", 1)[1] for d in result.documents) == ["README.md", "src/app.py"]
    again = crawl_git(source, tmp_path / "clones", 1_000_000)  # second run fetches into the same clone
    assert [d.content_hash for d in again.documents] == [d.content_hash for d in result.documents]


def test_a_new_commit_keeps_the_ids_of_files_it_did_not_touch(tmp_path):
    repo = tmp_path / "repo"
    make_repo(repo)
    source = GitSource(name="repo", repository=f"file://{repo}")
    before = {d.key: d for d in crawl_git(source, tmp_path / "clones", 1_000_000).documents}
    (repo / "src" / "app.py").write_text("def main():\n    return 'hello again'\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-qam", "edit app"], cwd=repo, check=True)
    after = {d.key: d for d in crawl_git(source, tmp_path / "clones", 1_000_000).documents}
    assert set(after) == {"repo:README.md", "repo:src/app.py"}
    assert after["repo:README.md"].location != before["repo:README.md"].location  # names the new commit
    assert after["repo:README.md"].document_id == before["repo:README.md"].document_id
    assert after["repo:src/app.py"].document_id != before["repo:src/app.py"].document_id


def test_git_failure_is_reported_not_raised(tmp_path):
    result = crawl_git(GitSource(name="gone", repository=f"file://{tmp_path}/nope"), tmp_path / "clones", 1000)
    assert not result.documents
    assert result.failures[0].location.endswith("/nope") and "git clone" in result.failures[0].reason


def test_pdf_text_is_extracted_and_an_unreadable_pdf_is_skipped(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.fonttype": 42}):  # embedded TrueType: text a PDF reader can extract
        figure = plt.figure()
        figure.text(0.1, 0.5, "Retrieval augmented generation keeps answers grounded.")
        figure.savefig(tmp_path / "paper.pdf")
        plt.close(figure)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    result = crawl_folder(FolderSource(name="papers", path=tmp_path), max_file_bytes=1_000_000)
    [paper] = result.documents
    assert paper.format == "pdf" and "keeps answers grounded" in paper.content
    assert {Path(s.location).name: s.reason.split(":")[0] for s in result.skipped} == {"broken.pdf": "unreadable PDF"}


def test_folder_document_ids_do_not_depend_on_where_the_corpus_sits(tmp_path: Path) -> None:
    """Same source name, same files, two folders: the same ids, hence the same by-document split on every clone."""
    import shutil

    for clone in ("a", "b"):
        shutil.copytree(SAMPLE_CORPUS / "code", tmp_path / clone / "corpus")
    first, second = (
        crawl_folder(FolderSource(name="code", path=tmp_path / clone / "corpus"), max_file_bytes=1_000_000)
        for clone in ("a", "b")
    )
    assert {d.location for d in first.documents}.isdisjoint(d.location for d in second.documents)  # still absolute
    assert sorted(d.document_id for d in first.documents) == sorted(d.document_id for d in second.documents)
    renamed = crawl_folder(FolderSource(name="other", path=tmp_path / "a" / "corpus"), max_file_bytes=1_000_000)
    assert {d.document_id for d in renamed.documents}.isdisjoint(d.document_id for d in first.documents)
    (tmp_path / "b" / "corpus" / "README.md").write_text("changed")
    changed = crawl_folder(FolderSource(name="code", path=tmp_path / "b" / "corpus"), max_file_bytes=1_000_000)
    assert len({d.document_id for d in changed.documents} - {d.document_id for d in first.documents}) == 1


SECRET = "root:x:0:0:this private text must never reach a dataset"


def test_folder_crawl_never_leaves_its_root_through_symlinks(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir()
    (private / "passwd").write_text(SECRET)
    (private / "notes.md").write_text(f"# Notes\n\n{SECRET}\n")
    corpus = tmp_path / "corpus"
    (corpus / "docs").mkdir(parents=True)
    (corpus / "docs" / "guide.md").write_text("# Guide\n\nIn-root text.\n")
    (corpus / "passwd-link.txt").symlink_to(private / "passwd")
    (corpus / "outside-dir").symlink_to(private, target_is_directory=True)
    (corpus / "alias.md").symlink_to(corpus / "docs" / "guide.md")  # in-root: read once
    (corpus / "docs" / "loop").symlink_to(corpus, target_is_directory=True)  # a loop back to the root
    (corpus / "dangling.md").symlink_to(tmp_path / "gone.md")

    result = crawl_folder(FolderSource(name="c", path=corpus, include=["**/*"]), max_file_bytes=1_000_000)

    assert all(SECRET not in d.content for d in result.documents)
    assert [d.key for d in result.documents] == ["c:alias.md"]  # the guide, once, under the first path to it
    skipped = {s.location.removeprefix(str(corpus.resolve()) + "/"): s.reason for s in result.skipped}
    assert skipped == {
        "passwd-link.txt": f"symlink points outside the source root (-> {(private / 'passwd').resolve()})",
        "outside-dir": f"symlink points outside the source root (-> {private.resolve()})",
        "docs/guide.md": "already crawled as alias.md (the same file through a symlink)",
        "docs/loop": "symlinked directory already crawled (link loop or second link)",
        "dangling.md": "broken symlink",
    }
    assert not result.failures


def test_git_crawl_skips_committed_symlinks_that_point_outside_the_repository(tmp_path: Path) -> None:
    private = tmp_path / "private.md"
    private.write_text(f"# Private\n\n{SECRET}\n")
    repo = tmp_path / "repo"
    make_repo(repo)
    (repo / "notes.md").symlink_to(private)
    (repo / "readme-link.md").symlink_to("README.md")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "add", "notes.md", "readme-link.md"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "links"], cwd=repo, check=True)

    for repository in (str(repo), f"file://{repo}"):  # the working tree itself, and a clone of it
        result = crawl_git(GitSource(name="repo", repository=repository), tmp_path / "clones", 1_000_000)
        assert all(SECRET not in d.content for d in result.documents)
        assert sorted(d.key for d in result.documents) == ["repo:README.md", "repo:src/app.py"]
        reasons = {s.location.rsplit(":", 1)[1]: s.reason for s in result.skipped}
        assert reasons["notes.md"] == f"symlink points outside the source root (-> {private.resolve()})"
        assert reasons["readme-link.md"] == "already crawled as README.md (the same file through a symlink)"
