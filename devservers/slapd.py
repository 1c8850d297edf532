"""A throwaway OpenLDAP slapd 2.5 on 127.0.0.1, started from a temp folder by the tests.

Debian's ``slapd`` binary with its own slapd.conf (not the system's cn=config), an mdb database
filled offline with ``slapadd -q`` (seconds for thousands of entries, where ldapadd would fsync
each), and a people LDIF generated here: ``count`` people with non-ASCII names and the
attributes Active Directory uses for phones (ipPhone, otherTelephone, company, department, under
their AD OIDs) next to OpenLDAP's inetOrgPerson ones. Nothing is skipped when slapd is missing or
fails: :meth:`SlapdServer.start` raises with its log. Stopped by PID; the tests may SIGSTOP it.
"""

from __future__ import annotations

import base64
import random
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devservers.net import free_port, wait_for_ports
from devservers.process import stop_and_wait, tail_files, terminate
from devservers.prosody import ServerStartError, die_with_parent

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
BASE_DN = "dc=example,dc=test"
PEOPLE_DN = f"ou=people,{BASE_DN}"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "pw-ldap-admin"
# A read-only account, as a company would give the component.
READER_DN = f"cn=phonepresence,{BASE_DN}"
READER_PASSWORD = "pw-ldap-reader"

# Active Directory's own attribute OIDs, so entries look like what an AD export gives.
AD_SCHEMA = """
attributetype ( 1.2.840.113556.1.4.721 NAME 'ipPhone'
  EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )
attributetype ( 1.2.840.113556.1.2.18 NAME 'otherTelephone'
  EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )
attributetype ( 1.2.840.113556.1.2.146 NAME 'company'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.141 NAME 'department'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.42.1 NAME 'phonepresenceTestADPerson' SUP top AUXILIARY
  MAY ( ipPhone $ otherTelephone $ company $ department ) )
"""

FIRST_NAMES = [
    "Zoë", "Éloïse", "Jürgen", "Søren", "Ana", "José", "François", "Łukasz", "Agnès", "Björn",
    "Marie", "Pierre", "Hélène", "Nicolás", "Chloé", "Dvořák", "Ingrid", "Mateo", "Noémie", "Yusuf",
    "Olivia", "Liam", "Emma", "Noah", "Sofia", "Lucas", "Mia", "Hugo", "Léa", "Jonas",
]  # fmt: skip
LAST_NAMES = [
    "Müller", "Schröder", "Núñez", "Lefèvre", "García", "Østergaard", "Kowalczyk", "Çelik", "Smith",
    "Dubois", "Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Fischer",
    "Weber", "Wagner", "Becker", "Hoffmann", "Rossi", "Russo", "Ferrari", "Novak", "Horváth", "Nagy",
]  # fmt: skip
DEPARTMENTS = ["Sales", "Support", "Engineering", "Finance", "Légal", "Logistics"]

# People every test may rely on, whatever the generated crowd holds.
KNOWN_PEOPLE = [
    # uid, given, surname, telephoneNumber, mobile, ipPhone
    ("zmuller", "Zoë", "Müller", "+49 30 5550100", "+49 170 5550100", "2100"),
    ("edurand", "Éloïse", "Durand", "+33 1 55 50 01 01", "", "2101"),
    ("mcurie", "Marie", "Curie", "+33 1 55 50 01 02", "+33 6 55 50 01 02", ""),
    ("rcarpenter", "Robert", "Carpenter", "+44 20 5550 0103", "", "2103"),
    ("aturing", "Alan", "Turing", "+44 20 7946 0104", "", ""),  # one number only
]


def _attr(name: str, value: str) -> str:
    """One LDIF line; values that are not plain ASCII are base64 (RFC 2849)."""
    safe = value.isascii() and value == value.strip() and not value.startswith((":", "<"))
    if safe and all(32 <= ord(c) < 127 for c in value):
        return f"{name}: {value}\n"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}\n"


def person_ldif(
    uid: str,
    given: str,
    surname: str,
    phone: str,
    mobile: str = "",
    ip_phone: str = "",
    other: str = "",
    department: str = "Sales",
) -> str:
    display = f"{given} {surname}"
    lines = [
        f"dn: uid={uid},{PEOPLE_DN}\n",
        "objectClass: inetOrgPerson\n",
        "objectClass: phonepresenceTestADPerson\n",
        f"uid: {uid}\n",
        _attr("cn", display),
        _attr("displayName", display),
        _attr("givenName", given),
        _attr("sn", surname),
        f"mail: {uid}@example.test\n",
        f"telephoneNumber: {phone}\n",
        "company: Example Corp\n",
        _attr("department", department),
    ]
    if mobile:
        lines.append(f"mobile: {mobile}\n")
    if ip_phone:
        lines.append(f"ipPhone: {ip_phone}\n")
    if other:
        lines.append(f"otherTelephone: {other}\n")
    return "".join(lines) + "\n"


def people_ldif(count: int, seed: int = 42) -> str:
    """The tree, a reader account, the known people, then ``count`` generated ones (deterministic)."""
    rng = random.Random(seed)
    out = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n",
        f"dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n\n",
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: phonepresence\nuserPassword: {READER_PASSWORD}\n\n",
    ]
    for uid, given, surname, phone, mobile, ip_phone in KNOWN_PEOPLE:
        out.append(person_ldif(uid, given, surname, phone, mobile, ip_phone))
    for i in range(count):
        given, surname = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        out.append(
            person_ldif(
                f"p{i:06d}",
                given,
                surname,
                f"+49 30 7{i:06d}",
                f"+49 151 7{i:06d}" if i % 3 == 0 else "",
                f"{30000 + i}" if i % 2 == 0 else "",
                f"+49 40 7{i:06d}" if i % 7 == 0 else "",
                rng.choice(DEPARTMENTS),
            )
        )
    return "".join(out)


@dataclass
class SlapdServer:
    workdir: Path
    people: int = 1000
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    base_dn: str = BASE_DN
    admin_dn: str = ADMIN_DN
    admin_password: str = ADMIN_PASSWORD
    reader_dn: str = READER_DN
    reader_password: str = READER_PASSWORD

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "slapd.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "slapd.log"

    def config_text(self) -> str:
        base = self.workdir
        return f"""# throwaway test instance written by devservers/slapd.py
include     /etc/ldap/schema/core.schema
include     /etc/ldap/schema/cosine.schema
include     /etc/ldap/schema/inetorgperson.schema
include     {base}/ad.schema
pidfile     {base}/slapd.pid
argsfile    {base}/slapd.args
modulepath  /usr/lib/ldap
moduleload  back_mdb
loglevel    stats
sizelimit   500

database    mdb
maxsize     268435456
suffix      "{self.base_dn}"
rootdn      "{self.admin_dn}"
rootpw      {self.admin_password}
directory   {base}/data
dbnosync
index       objectClass                                eq
# sub: the source's prefix lookups (each accented spelling of a typed prefix is one)
index       cn,sn,givenName,displayName                eq,sub
index       uid,mail                                   eq,sub
index       telephoneNumber,mobile,ipPhone             eq,sub
access to attrs=userPassword by anonymous auth by * none
access to * by * read
"""

    def start(self, timeout: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "data").mkdir(exist_ok=True)
        (self.workdir / "ad.schema").write_text(AD_SCHEMA)
        self.config_path.write_text(self.config_text())
        ldif = self.workdir / "people.ldif"
        ldif.write_text(people_ldif(self.people), encoding="utf-8")
        with open(self.log_path, "ab") as log:
            loaded = subprocess.run(
                [SLAPADD, "-q", "-f", str(self.config_path), "-l", str(ldif)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if loaded.returncode != 0:
            raise ServerStartError(f"slapadd failed (exit {loaded.returncode})\n{self.log_tail()}")
        console = open(self.log_path, "ab")  # noqa: SIM115  # lives as long as the process
        try:
            # -d: stay in the foreground (its PID is ours to stop or SIGSTOP), log to stderr.
            self.process = subprocess.Popen(
                [SLAPD, "-d", "256", "-h", f"{self.uri}/", "-f", str(self.config_path)],
                stdout=console,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                preexec_fn=die_with_parent,  # a throwaway server never outlives its owner
            )
        except OSError as exc:
            raise ServerStartError(f"slapd could not be run: {exc}\n{self.log_tail()}") from None
        finally:
            console.close()
        try:
            wait_for_ports([self.port], timeout, lambda: self.alive)
        except RuntimeError as exc:
            self.stop()
            raise ServerStartError(f"slapd did not start: {exc}\n{self.log_tail()}") from None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel does), nothing answers."""
        assert self.process is not None
        stop_and_wait(self.process)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server we started (by PID); SIGKILL if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.resume()  # a stopped process cannot act on SIGTERM
        terminate(self.process, timeout)
        self.process = None

    def log_tail(self, lines: int = 80) -> str:
        return tail_files([self.log_path], lines)
