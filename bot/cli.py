"""Command line of the bot: run it, train it, check the knowledge files.

Usage (from the project root, after `make run` created .venv):
    python -m bot run      # train if needed, start action server + Rasa server
    python -m bot train    # train only if the training data, domain or config changed
    python -m bot check [-a]  # check the knowledge files: errors, a summary, warnings with -a
    python -m bot demander "question" [--commune Balma]  # asks the running bot, shows its answer
    python -m bot rapport  # the week's unanswered questions, for staff (HTML and CSV)
    python -m bot purger --jours 365  # deletes conversations older than the retention period
    python -m bot telegram # the Telegram bridge on its own (BOT_TELEGRAM_TOKEN; README, Telegram)
    python -m bot cluster  # PostgreSQL, Redis, two Rasa instances and nginx on loopback (README, Scale-out)

Every command takes `--verbose` (`-v`): other packages' messages too (their
deprecation notices, Rasa's training progress), which are otherwise hidden.

Each command imports only what it uses: `check`, run after every edit of a
knowledge file, reads YAML without loading Rasa, spaCy or SQLAlchemy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.paths import VAR_DIR

if TYPE_CHECKING:
    from types import FrameType

    from bot.processes import ProcessSpec

__all__ = ["main"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


def _check(args: argparse.Namespace) -> int:
    """Errors first, one French summary line, warnings counted (shown with `--avertissements`)."""
    from bot.knowledge import check_directory, default_knowledge_dir, domain_intents
    from bot.knowledge.loader import SET_ASIDE
    from bot.staff.topics import training_gaps

    directory = Path(args.dossier) if args.dossier else default_knowledge_dir()
    intents = domain_intents()
    problems = check_directory(directory, intents, today=dt.date.today(), max_age_days=args.age_max)
    gaps = training_gaps(intents)
    problems.extend(gaps)
    errors = [p for p in problems if p.severity == "erreur"]
    warnings = [p for p in problems if p.severity != "erreur"]
    for problem in errors:
        print(problem)
    # What keeps a topic from citizens is shown even without --avertissements.
    urgent = [p for p in warnings if p in gaps or SET_ASIDE in p.message]
    shown = warnings if args.avertissements else urgent
    if shown:
        if errors:
            print()
        for problem in shown:
            print(problem)
    if errors or shown:
        print()
    summary = f"{_plural(len(errors), 'erreur')}, {_plural(len(warnings), 'avertissement')}"
    hidden = len(warnings) - len(shown)
    more = (
        f" ; {'pour les voir' if not shown else f'pour voir les {hidden} autres'} : make check A=1 "
        "(ou python -m bot check --avertissements)"
        if hidden
        else ""
    )
    if errors:
        print(
            f"{summary}. Corrigez les erreurs ci-dessus : le bot refuse ces fichiers tant "
            f"qu'elles restent (il garde leur dernière version valide){more}."
        )
        return 1
    print(f"Fichiers de connaissances valides : {summary}{more}.")
    return 0


def _ask(args: argparse.Namespace) -> int:
    from bot.staff.ask import BotUnreachable, ask, render, rest_url

    question = " ".join(args.question).strip()
    if not question:
        print('Écrivez la question : python -m bot demander "ma question"', file=sys.stderr)
        return 2
    try:
        replies = ask(question, commune=args.commune, url=rest_url(args.port))
    except BotUnreachable as error:
        print(error, file=sys.stderr)
        return 1
    commune = f" (commune déjà donnée : {args.commune})" if args.commune else ""
    print(f"Question{commune} : {question}\n\nRéponse du bot :\n{render(replies)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bot.processes import TrainingFailed, train_if_needed

    try:
        train_if_needed(verbose=args.verbose)
    except TrainingFailed as error:
        print(error, file=sys.stderr)
        return 1
    print(
        "Un bot déjà démarré garde l'ancien modèle : redémarrez-le (Ctrl-C dans le terminal "
        "de « make run », puis « make run »)."
    )
    return 0


def _telegram_process(rest_url: str, *, verbose: bool = False) -> ProcessSpec | None:
    """The Telegram bridge to run beside the servers, when a token is configured.

    If it keeps stopping (a revoked token), it is given up and the servers run on.
    """
    from bot.channels.telegram.settings import TOKEN_VARIABLE
    from bot.processes import telegram_bridge

    if not os.environ.get(TOKEN_VARIABLE, "").strip():
        logging.getLogger(__name__).info(
            "Telegram désactivé : %s n'est pas défini (README, section Telegram).", TOKEN_VARIABLE
        )
        return None
    return telegram_bridge(rest_url, verbose=verbose)


def _telegram(args: argparse.Namespace) -> int:
    from bot.channels.telegram import SettingsError, TelegramSettings, run

    try:
        settings = TelegramSettings.from_env(rasa_url=args.rasa_url)
    except SettingsError as error:
        print(f"Telegram : {error}", file=sys.stderr)
        return 2
    if settings is None:
        print(
            "Telegram désactivé : BOT_TELEGRAM_TOKEN n'est pas défini. Créez le bot avec "
            "@BotFather puis exportez son jeton (README, section Telegram).",
            file=sys.stderr,
        )
        return 2
    return run(settings)


def _run(args: argparse.Namespace) -> int:
    import signal
    import time

    from bot.channels import DEMO_PATH
    from bot.paths import private_dir
    from bot.processes import BotProcesses, ServerDied, TrainingFailed, train_if_needed

    private_dir(VAR_DIR)
    try:
        model = train_if_needed(verbose=args.verbose)
    except TrainingFailed as error:
        print(error, file=sys.stderr)
        return 1
    bot = BotProcesses(
        model=model, rasa_port=args.port, actions_port=args.port_actions, verbose=args.verbose
    )
    telegram = _telegram_process(bot.rest_url, verbose=args.verbose)
    if telegram is not None:
        bot.channels.append(telegram)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print("Démarrage du serveur d'actions et du serveur Rasa (environ une minute)…", flush=True)
    try:
        bot.start()
        print(
            "\nLe bot est prêt.\n"
            f"  Démonstration du widget web (navigateur) : http://127.0.0.1:{bot.rasa_port}{DEMO_PATH}\n"
            f"  Discuter (API REST) : POST {bot.rest_url}\n"
            '    exemple : curl -s -X POST -H "Content-Type: application/json" '
            f'-d \'{{"sender": "moi", "message": "bonjour"}}\' {bot.rest_url}\n'
            f"  API HTTP de Rasa : http://127.0.0.1:{bot.rasa_port}/ (jeton dans var/rasa-token)\n"
            f"  Telegram : {'pont démarré' if telegram else 'désactivé (BOT_TELEGRAM_TOKEN absent)'}\n"
            "Un serveur qui s'arrête est redémarré ; Ctrl-C pour arrêter.",
            flush=True,
        )
        # The same rounds as BotProcesses.start(supervise=True), in this thread.
        while True:
            bot.check_alive()
            time.sleep(1)
    except ServerDied as error:
        print(f"\n{error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nArrêt du bot…")
        bot.stop()
        return 0


def _cluster(args: argparse.Namespace) -> int:
    import signal
    import time

    from bot.channels import DEMO_PATH
    from bot.processes import ServerDied, TrainingFailed, train_if_needed
    from bot.processes.cluster import Cluster, ClusterError

    try:
        model = train_if_needed(verbose=args.verbose)
    except TrainingFailed as error:
        print(error, file=sys.stderr)
        return 1
    cluster = Cluster(model=model, instances=args.instances, port=args.port, verbose=args.verbose)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"Démarrage de PostgreSQL, Redis, {args.instances} serveurs Rasa et d'actions, puis nginx "
        f"(une à deux minutes ; journaux dans {cluster.log_dir})…",
        flush=True,
    )
    try:
        cluster.start()
        instances = ", ".join(str(port) for port in cluster.rasa_ports)
        print(
            "\nLe bot est prêt, derrière nginx.\n"
            f"  Démonstration du widget web : {cluster.url}{DEMO_PATH}\n"
            f"  Discuter (API REST) : POST {cluster.rest_url}\n"
            f"  Instances Rasa : 127.0.0.1 ports {instances} (jeton dans {cluster.state_dir}/rasa-token)\n"
            f"  Conversations : PostgreSQL 127.0.0.1:{cluster.postgres_port} ; verrous : Redis "
            f"127.0.0.1:{cluster.redis_port}\n"
            "Un serveur qui s'arrête est redémarré ; Ctrl-C pour arrêter.",
            flush=True,
        )
        while True:
            cluster.check_alive()
            time.sleep(1)
    except (ClusterError, ServerDied) as error:
        print(f"\n{error}", file=sys.stderr)
        cluster.stop()
        return 1
    except KeyboardInterrupt:
        print("\nArrêt du cluster…")
        cluster.stop()
        return 0


def _database(args: argparse.Namespace) -> str | None:
    """`--base`, else the conversation store of endpoints.yml; None once a French message said why not."""
    if args.base:
        return str(args.base)
    from bot.processes.endpoints import EndpointsError, database_url

    try:
        return database_url()
    except EndpointsError as error:
        print(error, file=sys.stderr)
        return None


def _report(args: argparse.Namespace) -> int:
    from bot.staff.report import Activity, build_report, collect, write_csv, write_html

    database = _database(args)
    if database is None:
        return 2
    today = dt.date.today()
    until = args.jusqu_au or today
    since = args.depuis or until - dt.timedelta(days=args.jours)
    start = dt.datetime.combine(since, dt.time.min).astimezone()
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min).astimezone()
    activity = Activity()
    groups = build_report(collect(database, start, end, args.seuil_bas, activity))
    out = Path(args.sortie)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(groups, out / "rapport.csv")
    write_html(groups, out / "rapport.html", since, until, activity)
    print(
        f"{sum(g.count for g in groups)} message(s) à revoir en {len(groups)} groupe(s), du {since} au {until}."
    )
    print(f"  Page : {out / 'rapport.html'}\n  Tableur : {out / 'rapport.csv'}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from bot.staff.retention import purge

    database = _database(args)
    if database is None:
        return 2
    result = purge(database, args.jours, trial=args.essai)
    verb = "seraient supprimés" if args.essai else "supprimés"
    print(
        f"{result.conversations} conversation(s) ({result.events} événement(s)) dont le dernier "
        f"message date d'avant le {result.before:%d/%m/%Y} : {verb}."
    )
    return 0


def _positive_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"« {text} » : nombre de jours attendu (1 ou plus)")
    return days


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"« {text} » : date attendue au format AAAA-MM-JJ"
        ) from None


DATABASE_HELP = "base des conversations (URL SQLAlchemy ; par défaut, celle de endpoints.yml)"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="affiche aussi les messages détaillés des autres logiciels (Rasa, TensorFlow…)",
    )
    parser = argparse.ArgumentParser(prog="bot", description="Bot citoyen de Toulouse Métropole.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, parents=[common])

    run = command("run", "entraîne si besoin et démarre le bot")
    run.add_argument("--port", type=int, default=5005, help="port du serveur Rasa (5005)")
    run.add_argument(
        "--port-actions", type=int, default=5055, help="port du serveur d'actions (5055)"
    )
    run.set_defaults(func=_run)

    cluster = command(
        "cluster", "PostgreSQL, Redis, plusieurs instances Rasa et nginx, sur cette machine"
    )
    cluster.add_argument("--port", type=int, default=5080, help="port de nginx (5080)")
    cluster.add_argument(
        "--instances", type=int, default=2, help="nombre d'instances Rasa et d'actions (2)"
    )
    cluster.set_defaults(func=_cluster)

    train = command("train", "entraîne le modèle si ses données ont changé")
    train.set_defaults(func=_train)

    check = command("check", "vérifie les fichiers de connaissances")
    check.add_argument(
        "--dossier", help="dossier à vérifier (knowledge/, ou BOT_KNOWLEDGE_DIR s'il est défini)"
    )
    check.add_argument(
        "--age-max",
        type=int,
        default=365,
        help="avertir quand une réponse n'a pas été vérifiée depuis ce nombre de jours (365)",
    )
    check.add_argument(
        "-a",
        "--avertissements",
        action="store_true",
        help="affiche aussi chaque avertissement (sinon, seulement leur nombre)",
    )
    check.set_defaults(func=_check)

    demander = command("demander", "pose une question au bot démarré et affiche sa réponse")
    demander.add_argument("question", nargs="*", help="la question, comme un habitant l'écrirait")
    demander.add_argument("--commune", help="commune donnée avant la question (ex. Balma)")
    demander.add_argument("--port", type=int, default=5005, help="port du serveur Rasa (5005)")
    demander.set_defaults(func=_ask)

    report = command("rapport", "questions sans réponse satisfaisante, pour les agents")
    report.add_argument("--jours", type=int, default=7, help="période : les N derniers jours (7)")
    report.add_argument("--depuis", type=_date, help="début de la période (AAAA-MM-JJ)")
    report.add_argument("--jusqu-au", type=_date, help="fin de la période, incluse (AAAA-MM-JJ)")
    report.add_argument("--base", help=DATABASE_HELP)
    report.add_argument("--sortie", default=str(VAR_DIR / "rapport"), help="dossier du rapport")
    report.add_argument(
        "--seuil-bas",
        type=float,
        default=0.6,
        help="confiance sous laquelle une réponse est « peu sûre » (0.6)",
    )
    report.set_defaults(func=_report)

    retention = command(
        "purger", "supprime les conversations plus anciennes que la durée de conservation"
    )
    retention.add_argument(
        "--jours",
        type=_positive_days,
        required=True,
        help="durée de conservation en jours (celle qu'annonce le widget)",
    )
    retention.add_argument("--base", help=DATABASE_HELP)
    retention.add_argument(
        "--essai", action="store_true", help="compte seulement, sans rien supprimer"
    )
    retention.set_defaults(func=_purge)

    telegram = command("telegram", "pont Telegram seul (jeton dans BOT_TELEGRAM_TOKEN)")
    telegram.add_argument(
        "--rasa-url",
        default=None,
        help="webhook REST de Rasa (BOT_TELEGRAM_RASA_URL, sinon "
        "http://127.0.0.1:5005/webhooks/rest/webhook)",
    )
    telegram.set_defaults(func=_telegram)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bot` and of the `bot-citoyen` command."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.verbose or args.command == "check":  # check imports no other package
        return int(args.func(args))
    from bot.processes.quiet import library_warnings_silenced

    with library_warnings_silenced():
        return int(args.func(args))
