"""Demo only: three of Northwind's playbooks written in Polish, Swedish and Russian, so the whole flow
(declare, draft from a template, approve, publish, update, resolve) can be tried in each language.

Organisation content stays in the language it was written in (issue #19): these playbooks, their approval
chains (chain and step names) and their statement templates are Polish, Swedish and Russian whatever the
interface language, and every template carries its language, so a statement drafted from one is in that
language (and its {next_update_time} is written in it). Each has the three statements a crisis needs: the
holding statement, an update, and the resolution. The vocabulary is the crisis communicators' own (the
source articles are the glossary): oświadczenie wstępne / första uttalande / предварительное заявление,
rzecznik prasowy / talesperson / пресс-секретарь, ścieżka zatwierdzania / godkännandekedja / цепочка
согласования.

Created by `seed_demo` only when missing (by playbook name); the chains likewise (by chain name). The chains
set no criteria and sort last, so the automatic choice for statements outside these playbooks never lands on
them: they are used through their playbook.
"""

# ruff: noqa: RUF001  (Cyrillic text is Russian here, not look-alike Latin letters)
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incidents.models import (
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    Audience,
    Channel,
    IncidentRole,
    Platform,
    Scenario,
    Severity,
    User,
)
from incidents.playbooks.content import (
    ContactSpec,
    Content,
    InjectSpec,
    RoleSpec,
    TaskSpec,
    TemplateSpec,
)
from incidents.playbooks.models import ContactKind, InjectKind, Playbook
from incidents.playbooks.services import playbook_create

# The chains sort after every seeded one (sort_order 100/200), so they are never picked automatically.
_CHAIN_SORT = 900

LANGUAGE_PLAYBOOKS: list[dict[str, Any]] = [
    {
        "language": "pl",
        "name": "Awaria płatności w sklepie internetowym",
        "scenario": Scenario.OUTAGE,
        "severity": Severity.SEV2,
        "title_hint": "Awaria: ",
        "platforms": [Platform.FACEBOOK, Platform.X, Platform.WEBSITE],
        "description": (
            "Płatności lub zamówienia w sklepie internetowym nie działają, a klienci piszą o tym publicznie. "
            "Cel: być pierwszym i najbardziej wiarygodnym źródłem informacji o własnej awarii i regularnie "
            "informować, aż problem zostanie usunięty i wyjaśniony."
        ),
        "risk_notes": (
            "Nie podawaj przewidywanej godziny naprawy; zapowiedz za to termin kolejnej aktualizacji. Nie "
            "obwiniaj publicznie dostawcy bez zgody działu prawnego. Podwójne obciążenia kart podnoszą "
            "incydent do SEV1."
        ),
        "chain": {
            "name": "Dział prawny → Kierownik komunikacji → Zarząd",
            "description": "Ścieżka zatwierdzania komunikatów po polsku: najpierw ryzyko prawne, potem treść, na końcu akceptacja zarządu.",
            "steps": [("Dział prawny", "legal"), ("Kierownik komunikacji", "comms-lead"), ("Zarząd", "executive")],
        },
        "roles": ["comms-lead", "spokesperson", "legal", "executive", "social", "support"],
        "tasks": [
            (5, "Wstrzymaj zaplanowane posty marketingowe", "social", "Wesoła kampania obok kryzysu wygląda fatalnie."),
            (20, "Zbierz fakty od zespołu technicznego: zakres, początek, obejście", "comms-lead", ""),
            (30, "Opublikuj oświadczenie wstępne", "comms-lead", "Nawet „wiemy i działamy” jest lepsze niż milczenie."),
            (45, "Przekaż obsłudze klienta zatwierdzone odpowiedzi", "support", ""),
            (120, "Opublikuj aktualizację (albo zapowiedz, kiedy będzie)", "spokesperson", ""),
        ],
        "templates": [
            (
                "Oświadczenie wstępne (X)",
                Channel.X,
                Audience.PUBLIC,
                "Oświadczenie wstępne: {incident_title}",
                "Wiemy o problemie: {incident_title}. Przepraszamy za utrudnienia — nasz zespół już nad tym "
                "pracuje. Kolejną informację przekażemy do {next_update_time}.",
                "Pierwsze publiczne słowa, w ciągu 30 minut. Przeproś, nie podawaj godziny naprawy.",
            ),
            (
                "Aktualizacja (strona internetowa)",
                Channel.WEBSITE,
                Audience.CUSTOMERS,
                "Aktualizacja: {incident_title}",
                "{incident_title}. Przepraszamy za utrudnienia i chcemy jasno powiedzieć, jak wygląda "
                "sytuacja.\n\nKogo to dotyczy: {affected}.\nCo robimy: {action}.\nGdzie uzyskać pomoc: "
                "{contact}.\n\nKolejną informację przekażemy do {next_update_time}.\n\n— {company}",
                "Gdy znamy fakty. Tylko sprawdzone informacje; aktualizuj przy każdym postępie.",
            ),
            (
                "Komunikat o rozwiązaniu (strona internetowa)",
                Channel.WEBSITE,
                Audience.CUSTOMERS,
                "Problem rozwiązany: {incident_title}",
                "Problem został rozwiązany: {incident_title}. Wszystko działa już normalnie.\n\nCo się "
                "stało i co zrobiliśmy: {action}.\nKogo to dotyczyło: {affected}.\nJeśli nadal masz "
                "trudności: {contact}.\n\nDziękujemy za cierpliwość i jeszcze raz przepraszamy.\n\n— {company}",
                "Gdy incydent jest zamknięty: co się stało, co naprawiliśmy, co zmienimy.",
            ),
        ],
        "contacts": [
            (ContactKind.INTERNAL, "Dyżur zespołu technicznego", "Zespół platformy", "+48 22 555 01 00", "", "Fakty i czas naprawy"),
        ],
        "injects": [
            (20, InjectKind.MENTIONS, "Liczba wzmianek z #NorthwindAwaria rośnie z 40 do 900 na godzinę."),
            (45, InjectKind.JOURNALIST, "Dziennikarz portalu biznesowego pyta: „Ilu klientów dotyczy awaria? Publikujemy za 30 minut”."),
        ],
    },
    {
        "language": "sv",
        "name": "Produktklagomål som sprids",
        "scenario": Scenario.COMPLAINT,
        "severity": Severity.SEV2,
        "title_hint": "Klagomål sprids: ",
        "platforms": [Platform.INSTAGRAM, Platform.YOUTUBE, Platform.REVIEWS],
        "description": (
            "En kunds klagomål på en produkt sprids (video, recension, tråd). Mål: svara med empati offentligt, "
            "lösa det för kunden privat, ta reda på om det är ett enskilt fall eller ett mönster och säga vad "
            "vi gör för alla som drabbats."
        ),
        "risk_notes": (
            "Bråka aldrig med kunden offentligt och ifrågasätt inte berättelsen. Flytta detaljerna till en privat "
            "kanal men svara även offentligt, så att andra ser svaret. Kontrollera först om det rör säkerheten."
        ),
        "chain": {
            "name": "Juridik → Kommunikationsansvarig → Ledningen",
            "description": "Godkännandekedja för uttalanden på svenska: juridisk risk först, sedan formuleringen, sist ledningens godkännande.",
            "steps": [("Juridik", "legal"), ("Kommunikationsansvarig", "comms-lead"), ("Ledningen", "executive")],
        },
        "roles": ["comms-lead", "spokesperson", "legal", "executive", "support", "social"],
        "tasks": [
            (15, "Kontakta kunden privat och erbjud dig att rätta till det", "support", ""),
            (30, "Publicera ett första uttalande", "comms-lead", "Även ”vi vet och vi jobbar på det” slår tystnad."),
            (120, "Kvalitet: enskilt fall eller mönster? (batch, butik, datum)", "comms-lead", "Säkerhetsrisk → höj till SEV1."),
            (180, "Informera kundtjänst med de godkända svaren", "support", ""),
        ],
        "templates": [
            (
                "Första uttalande (Instagram)",
                Channel.INSTAGRAM,
                Audience.PUBLIC,
                "Första uttalande: {incident_title}",
                "Vi har sett det som delas om {incident_title} och vi ber om ursäkt. Har det hänt dig? "
                "Kontakta oss: {contact}, så ordnar vi det. Vi återkommer med mer information senast "
                "{next_update_time}.",
                "Empati först, sedan ett konkret sätt att få hjälp. Inom 30 minuter.",
            ),
            (
                "Uppdatering (webbplats)",
                Channel.WEBSITE,
                Audience.CUSTOMERS,
                "Uppdatering: {incident_title}",
                "Många av er har berättat om {incident_title}. Tack — och förlåt.\n\nVilka som berörs: "
                "{affected}.\nVad vi gör: {action}.\nSå får du ersättning eller pengarna tillbaka: {contact}."
                "\n\nVi återkommer med mer information senast {next_update_time}.\n\n— {company}",
                "När det är mer än ett fall: säg vilka som berörs och vad vi gör för alla.",
            ),
            (
                "Avslutande besked (webbplats)",
                Channel.WEBSITE,
                Audience.CUSTOMERS,
                "Löst: {incident_title}",
                "Vi har nu löst {incident_title}.\n\nVad som hände och vad vi har gjort: {action}.\nVilka som "
                "berördes: {affected}.\nOm du fortfarande behöver hjälp: {contact}.\n\nTack för ert tålamod, "
                "och förlåt än en gång.\n\n— {company}",
                "När incidenten är löst: vad som hände, vad vi har åtgärdat och vad vi ändrar.",
            ),
        ],
        "contacts": [
            (ContactKind.INTERNAL, "Kvalitetschef", "Northwind Produkt", "+46 8 555 050 50", "kvalitet@northwind.example", "Spårning av batcher"),
        ],
        "injects": [
            (20, InjectKind.CUSTOMER, "Originalvideon passerar en miljon visningar; en andra kreatör visar samma fel."),
            (50, InjectKind.JOURNALIST, "En reporter på en kvällstidning frågar om fler kunder har klagat."),
        ],
    },
    {
        "language": "ru",
        "name": "Дезинформация и слухи",
        "scenario": Scenario.MISINFORMATION,
        "severity": Severity.SEV3,
        "title_hint": "Ложное утверждение: ",
        "platforms": [Platform.FACEBOOK, Platform.X],
        "description": (
            "О нас распространяется ложное или вводящее в заблуждение утверждение (безопасность продукта, "
            "закрытие магазинов, цены, поддельное заявление). Цель: спокойно опровергнуть его фактами, "
            "которые можно проверить, там, где оно распространяется, и не усиливать его."
        ),
        "risk_notes": (
            "Не повторяйте слух в заголовке. Сначала убедитесь, что он действительно ложный. Отвечайте там, "
            "где распространяется утверждение, давайте ссылку на доказательства и сохраняйте доброжелательный "
            "тон: многие из тех, кто делится слухом, встревожены, а не враждебны."
        ),
        "chain": {
            "name": "Юристы → Руководитель по коммуникациям → Руководство",
            "description": "Цепочка согласования заявлений на русском: сначала юридические риски, затем формулировки, в конце утверждение руководства.",
            "steps": [
                ("Юристы", "legal"),
                ("Руководитель по коммуникациям", "comms-lead"),
                ("Руководство", "executive"),
            ],
        },
        "roles": ["comms-lead", "spokesperson", "legal", "executive", "social"],
        "tasks": [
            (30, "Проверьте факты и соберите доказательства, которые можно проверить", "comms-lead", ""),
            (45, "Опубликуйте предварительное заявление", "spokesperson", "Спокойно, с доказательствами."),
            (90, "Сообщите платформам о поддельных аккаунтах и заявлениях", "social", ""),
        ],
        "templates": [
            (
                "Предварительное заявление (Facebook)",
                Channel.FACEBOOK,
                Audience.PUBLIC,
                "Предварительное заявление: {incident_title}",
                "Мы видим публикации, в которых утверждается, что {claim}. Понимаем, что это вызывает "
                "беспокойство, и сейчас проверяем все факты. Следующее сообщение опубликуем до "
                "{next_update_time}.",
                "Первые публичные слова: признаём, что видим, обещаем следующее сообщение. Не повторяйте слух "
                "в заголовке.",
            ),
            (
                "Обновление (сайт)",
                Channel.WEBSITE,
                Audience.PUBLIC,
                "Факты: {incident_title}",
                "Возможно, вы видели публикации о том, что {claim}. Это не так.\n\nФакты: {action}.\nКого это "
                "касается: {affected}.\nДоказательства можно проверить самостоятельно: {contact}.\n\nСледующее "
                "сообщение опубликуем до {next_update_time}.\n\n— {company}",
                "Спокойно, с доказательствами, которые можно проверить.",
            ),
            (
                "Итоговое заявление (сайт)",
                Channel.WEBSITE,
                Audience.PUBLIC,
                "Вопрос закрыт: {incident_title}",
                "Подводим итог: {incident_title}.\n\nЧто мы сделали: {action}.\nГде найти доказательства: "
                "{contact}.\n\nСпасибо всем, кто задавал вопросы и помог остановить распространение ложной "
                "информации.\n\n— {company}",
                "Когда инцидент исчерпан: что подтвердилось, что сделано, где доказательства.",
            ),
        ],
        "contacts": [
            (ContactKind.PARTNER, "Независимая испытательная лаборатория", "SGS Nordic", "+46 8 555 070 70", "", "Сертификаты по запросу"),
        ],
        "injects": [
            (20, InjectKind.MENTIONS, "Утверждение распространяет родительское сообщество на 80 тысяч участников; в комментариях требуют отзыва товара."),
            (60, InjectKind.JOURNALIST, "Региональная газета просит сертификат лаборатории до 17:00."),
        ],
    },
]  # fmt: skip


def _chain(spec: dict[str, Any], roles: dict[str, IncidentRole]) -> ApprovalChainTemplate:
    chain, created = ApprovalChainTemplate.objects.get_or_create(
        name=spec["name"], defaults={"description": spec["description"], "sort_order": _CHAIN_SORT}
    )
    if created:
        ApprovalStepTemplate.objects.bulk_create(
            ApprovalStepTemplate(chain=chain, order=i, name=name, role=roles[slug])
            for i, (name, slug) in enumerate(spec["steps"], start=1)
        )
    return chain


def ensure_language_playbooks(*, owner: User, people: Mapping[str, tuple[User | None, User | None]]) -> int:
    """Create the Polish, Swedish and Russian demo playbooks that are missing (by name), with their chains,
    staffed from `people` (role slug → (person, backup)); returns how many were created."""
    roles = {r.slug: r for r in IncidentRole.objects.all()}
    existing = set(Playbook.objects.values_list("name", flat=True))
    created = 0
    for spec in LANGUAGE_PLAYBOOKS:
        if spec["name"] in existing:
            continue
        lang = spec["language"]
        content = Content(
            title_hint=spec["title_hint"],
            description=spec["description"],
            risk_notes=spec["risk_notes"],
            default_severity=spec["severity"],
            platforms=tuple(spec["platforms"]),
            approval_chain=_chain(spec["chain"], roles),
            bridge_line="+46 8 555 000 99, PIN 4417",
            chat_channel=f"#warroom-{lang}",
            press_inbox="press@northwind.example",
            change_note=spec["name"],
            roles=tuple(
                RoleSpec(
                    role=roles[slug],
                    person=people.get(slug, (None, None))[0],
                    backup=people.get(slug, (None, None))[1],
                )
                for slug in spec["roles"]
                if slug in roles
            ),
            tasks=tuple(
                TaskSpec(title=t, offset_minutes=o, role=roles.get(r), notes=n)
                for o, t, r, n in spec["tasks"]
            ),
            templates=tuple(
                TemplateSpec(name=n, channel=c, audience=a, title=ti, body=b, guidance=g, language=lang)
                for n, c, a, ti, b, g in spec["templates"]
            ),
            contacts=tuple(
                ContactSpec(kind=k, name=n, organisation=o, phone=p, email=e, notes=no)
                for k, n, o, p, e, no in spec["contacts"]
            ),
            injects=tuple(InjectSpec(offset_seconds=m * 60, kind=k, text=t) for m, k, t in spec["injects"]),
        )
        playbook_create(
            actor=owner, name=spec["name"], scenario=spec["scenario"], owner=owner, content=content
        )
        created += 1
    return created
