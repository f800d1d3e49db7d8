"""Where the corpus comes from: Debian 12 packages (and one PyPI wheel), and per package explicit
rules that label files by their path.

Rules were written after reading each package's file list (``dpkg-deb -c``). A rule is a regular
expression searched (case-insensitively) in the member's path inside the package; the first rule
that matches gives the class, whose role follows from the vocabulary. Files that match no rule are
skipped, never guessed: a wrong label hurts more than a missing file. ``skip`` patterns are tried
first and drop a file outright (e.g. a folder copied from a reserved package).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from models.corpus.vocabulary import ROLE_OF_CLASS

# Reserved for an independent evaluation: never downloaded, used or named in the manifest.
RESERVED_PACKAGES: frozenset[str] = frozenset(
    {
        "openclonk-data",
        "0ad-data",
        "gcompris-qt-data",
        "supertuxkart-data",
        "lincity-ng-data",
        "wesnoth-1.16-data",
        "nexuiz-data",
        "warzone2100-data",
        "hedgewars-data",
        "openarena-data",
        "openarena-081-misc",
        "tuxpaint-stamps-default",
        "supertux-data",
        "freedroidrpg-data",
        "asterisk-moh-opsound-wav",
        "asterisk-core-sounds-en-wav",
        "minetest-mod-homedecor",
        "minetest-mod-mobs-redo",
        "heroes-sound-effects",
        "bzflag-data",
        "tuxtype-data",
        "teeworlds-data",
        "sound-theme-freedesktop",
        "alsa-utils",
    }
)

# Projects whose recordings the reserved packages hold: a file whose copyright stanza names one
# of them is skipped even when another package ships it.
RESERVED_ORIGINS = re.compile(
    r"openarena|nexuiz|wesnoth|\b0 ?a\.? ?d\b|wildfire games|openclonk|hedgewars|supertux|teeworlds"
    r"|warzone|freedroid|bzflag|lincity|gcompris|tux ?paint|tux ?type|heroes of might",
    re.IGNORECASE,
)

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".ogg", ".flac", ".mp3", ".voc")
# Archives holding sounds: Doom WADs (DMX lumps), Quake-style .pk3 (zip), SoundFont 2 banks,
# OpenTTD sound catalogues.
CONTAINER_SUFFIXES: tuple[str, ...] = (".wad", ".pk3", ".sf2", ".cat")


@dataclass(frozen=True)
class Rule:
    """Files whose path matches ``pattern`` (regex, case-insensitive search) get class ``label``."""

    pattern: str
    label: str

    def __post_init__(self) -> None:
        if self.label not in ROLE_OF_CLASS:
            raise ValueError(f"rule {self.pattern!r}: class {self.label!r} is not in the vocabulary")
        re.compile(self.pattern)


@dataclass(frozen=True)
class PackageSource:
    """One package of the corpus and how its files are labelled.

    ``licence``: used when the package's copyright file is not machine-readable (DEP-5) or its
    ``Files:`` paths cannot be matched to installed paths; ``file_licences`` (regex, licence) pairs
    override it for the files a free-text copyright file names; ``dep5_prefix`` maps an installed
    path prefix to the source-tree prefix the DEP-5 ``Files:`` globs use. Files whose DEP-5
    stanza credits a reserved project are skipped unless they match ``reviewed_origins``: paths
    checked by hand to come from another author of the same stanza.
    """

    name: str
    rules: tuple[Rule, ...]
    skip: tuple[str, ...] = ()
    licence: str | None = None
    file_licences: tuple[tuple[str, str], ...] = ()
    dep5_prefix: tuple[str, str] | None = None
    reviewed_origins: tuple[str, ...] = ()
    kind: Literal["deb", "wheel"] = "deb"
    holder: str = ""
    note: str = ""
    _compiled: tuple[tuple[re.Pattern[str], str], ...] = field(init=False, repr=False, compare=False)
    _skips: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name in RESERVED_PACKAGES:
            raise ValueError(f"package {self.name!r} is reserved for the independent evaluation")
        compiled = tuple((re.compile(r.pattern, re.IGNORECASE), r.label) for r in self.rules)
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "_skips", tuple(re.compile(s, re.IGNORECASE) for s in self.skip))

    def declared_licence(self, member: str) -> str | None:
        """The licence written here for ``member`` (None: read it from the copyright file)."""
        for pattern, licence in self.file_licences:
            if re.search(pattern, member, re.IGNORECASE):
                return licence
        return self.licence

    def origin_reviewed(self, member: str) -> bool:
        """Whether ``member``'s origin was checked by hand (see ``reviewed_origins``)."""
        return any(re.search(p, member, re.IGNORECASE) for p in self.reviewed_origins)

    def classify(self, member: str) -> str | None:
        """The class of the file at ``member`` (path inside the package), or None to skip it."""
        if any(s.search(member) for s in self._skips):
            return None
        for pattern, label in self._compiled:
            if pattern.search(member):
                return label
        return None


def _r(label: str, *patterns: str) -> tuple[Rule, ...]:
    return tuple(Rule(p, label) for p in patterns)


# Human units of MegaGlest (voices that speak, melee that hits, deaths that cry out).
_MG_HUMANS = (
    r"(archer|swordman|guard|horseman|technician|worker|spearman|stickfighter|cudgel|valkyrie"
    r"|initiate|battlemage|summoner|archmage|axe_thrower|princess|magician|fakir|shaman|warrior)"
)

SOURCES: tuple[PackageSource, ...] = (
    PackageSource(
        "7kaa-data",
        _r("rain", r"/RAIN\.WAV$") + _r("wind", r"/WIND\.WAV$") + _r("thunder", r"/THUNDER\.WAV$"),
        note="Seven Kingdoms: weather loops (the other sounds live in resource archives)",
    ),
    PackageSource(
        "alienblaster-data",
        _r("explosion", r"/explosion(boss)?\.wav$") + _r("alarm", r"/alarm\.wav$"),
    ),
    PackageSource(
        "ardentryst",
        _r("music", r"/Music/")
        + _r("rain", r"/Rain_Loop\.ogg$")
        + _r("wind", r"/cavewind\.ogg$")
        + _r("speech", r"/VOI_Intro_\d\.ogg$")
        + _r("footsteps", r"/(NYX|PYR)_STEP_")
        + _r("fight", r"/(NYX|PYR)_PAIN\d+\.ogg$")
        + _r("impact", r"/WoodHit\.ogg$"),
        note="voice-acted narration, player pain voices (female/male), footsteps, music",
    ),
    *(
        PackageSource(
            f"asterisk-core-sounds-{lang}-wav",
            _r("speech", r"/sounds/[^/]+/.*\.wav$"),
            licence=lic,
            note=f"telephony prompts, {name} (not English: the -en- package is reserved)",
        )
        for lang, name, lic in (
            ("fr", "French", "CC-BY-SA-3.0"),
            ("es", "Spanish", "CC-BY-SA-3.0"),
            ("it", "Italian", "CC-BY-3.0"),
            ("ru", "Russian", "CC-BY-3.0"),
        )
    ),
    PackageSource(
        "barrage",
        _r("explosion", r"/sounds/expl\d\.wav$") + _r("gunshot", r"/sounds/(gunfire|autocannon)\.wav$"),
        note="Barrage (shooting gallery): explosions and gunfire",
    ),
    PackageSource(
        "boswars-data",
        # infantry deaths cry out; the assault rifle and the gun turret fire bursts; grenade and
        # rocket impacts and destroyed vehicles explode. Weapon sounds of the other units (medic,
        # engineer, flamethrower APC) and the buildings' machinery are left out.
        _r("scream", r"/units/(assault|bazoo|grenadier|engineer|medic)/\1_die\.wav$")
        + _r("gunshot", r"/units/(assault/assault|gturret/gturret)_attack\.wav$")
        + _r(
            "explosion",
            r"/sounds/(grenadier|bazoo)_g_hit\.wav$",
            r"/units/(destroyer/destroyer\.die|harvester/harvester_die)\.wav$",
        )
        + _r(
            "speech",
            r"/units/(assault|bazoo|grenadier|engineer|medic)/\1(\.unit)?[._](select|action|ready|underattack)\.wav$",
            r"/campaigns/tutorial/level01(-0\d)?\.wav$",
        ),
        note="Bos Wars (RTS): infantry voices and death cries, gunfire, explosions, tutorial narration",
    ),
    PackageSource(
        "brainparty-data",
        _r("glass_break", r"/glass_break\.wav$")
        + _r("gunshot", r"/gun[12]\.wav$")
        + _r("explosion", r"/explosion\.wav$")
        + _r("impact", r"/whack\.wav$")
        + _r("other", r"/(baa\d?|meow|balloon_pop)\.wav$"),
    ),
    PackageSource(
        "btanks-data",
        _r("city", r"/ambient/city\.ogg$")
        + _r("nature", r"/ambient/(country|forest|swamp)\.ogg$")
        + _r(
            "explosion",
            r"/(building-explosion\d|explosion|vehicle-explosion2?|nuke-explosion|old-nuke-explosion)\.ogg$",
        )
        + _r("gunshot", r"/machinegunner-bullet\.ogg$")
        + _r("scream", r"/(kamikaze-scream|deadman\d)\.ogg$")
        + _r("footsteps", r"/man-steps\.ogg$")
        + _r(
            "vehicle",
            r"/(engine-car|engine-start|engine-vehicle|tank-move|vehicle-sound|helicopter|train)\.ogg$",
        )
        + _r("horn", r"/klaxon\.ogg$")
        + _r("other", r"/(laugh0\d|cow)\.ogg$")
        + _r("music", r"/tunes/"),
    ),
    PackageSource(
        "ceferino-data",
        _r("explosion", r"/sounds/(boom|explo)\.wav$") + _r("alarm", r"/sounds/alarma\.wav$"),
        licence="GPL-2+",
        holder="2004, 2005 Hugo Ruscitti",
    ),
    PackageSource(
        "chromium-bsu-data",
        _r("explosion", r"/(boom|exploBig|exploStd)\.wav$") + _r("music", r"/music_(game|menu)\.wav$"),
        dep5_prefix=("usr/share/games/chromium-bsu/", "data/"),
    ),
    PackageSource(
        "crossfire-client",
        _r("explosion", r"/Explosion\.wav$")
        + _r("gunshot", r"/Gun-5\.wav$")
        + _r("fight", r"/(ouch1|painb|phit2)\.wav$")
        + _r("impact", r"/MetalCrash\.wav$")
        + _r("footsteps", r"/step_lth\d\.ogg$")
        + _r("other", r"/(TowerClock|gong)\.wav$")
        + _r("music", r"/bugle_charge\.wav$"),
        # claws/fist/knife/sword-1 come from Battle for Wesnoth, a reserved source
        skip=(r"/(claws|fist|knife|sword-1)\.ogg$",),
        licence="GPL-2+",
        file_licences=((r"/painb\.wav$", "CC-BY-3.0"), (r"/step_lth\d\.ogg$", "public-domain")),
        note="its Wesnoth-derived sounds (claws, fist, knife, sword-1) are skipped",
    ),
    PackageSource(
        "cube2-data",
        _r("gunshot", r"/q009/(pistol|rifle|shotgun|minigun)\d?\.ogg$")
        + _r("explosion", r"/q009/explosion\.ogg$", r"/sfx/explode\.ogg$")
        + _r("scream", r"/aard/die\d\.wav$")
        + _r("fight", r"/aard/(pain|grunt)\d\.wav$")
        + _r("door", r"/sfx_DoorSlam\.wav$")
        + _r("water", r"/amb_waterdrip_2\.ogg$")
        + _r("music", r"/music/stone_fortress\.ogg$", r"/Vla_G_Major\.ogg$")
        + _r("other", r"/chainsaw/(attack|idle)\.ogg$"),
        # packages/sounds/0ad/ holds recordings taken from 0 A.D., a reserved source.
        skip=(r"/sounds/0ad/",),
        dep5_prefix=("usr/share/games/cube2/", ""),
        # The CC-BY-SA stanza covering q009/ and sfx/ also credits Wildfire Games (0 A.D.) for
        # other files of the stanza; q009/ is Slawomir 'Q009' Blauciak's weapon set and sfx/ the
        # Red Eclipse team's, neither recorded for 0 A.D.
        reviewed_origins=(r"/sounds/q009/", r"/sounds/sfx/"),
        holder="Sauerbraten authors; sounds: Slawomir 'Q009' Blauciak, aard, OLPC project, Red Eclipse team",
        note="Sauerbraten; its sounds/0ad/ folder is skipped (copied from reserved 0 A.D.)",
    ),
    PackageSource(
        "dopewars-data",
        _r("gunshot", r"/(colt|gun)\.wav$")
        + _r("fight", r"/punch\.wav$")
        + _r("crowd", r"/murmur\.wav$")
        + _r("vehicle", r"/(jet|train)\.wav$"),
        licence="GPL-2+",
        holder="Ben Webb (dopewars)",
    ),
    PackageSource(
        "endless-sky-data",
        _r("explosion", r"/sounds/(final )?explosion (huge|large|medium|small|tiny|nuke)\.wav$")
        + _r("explosion", r"/sounds/heavy rocket hit\.wav$")
        + _r("alarm", r"/sounds/alarm\.wav$")
        + _r("indoor", r"/sounds/ambient/machinery\.mp3$"),
        note="explosions (freesound public domain, soundbible CC-BY-SA); the weapons are sci-fi and skipped",
    ),
    PackageSource(
        "enigma-data",
        _r("music", r"/music/")
        + _r("explosion", r"/explosion\d\.wav$")
        + _r("glass_break", r"/shatter\.wav$")
        + _r("impact", r"/st-(thud|metal|stone)\.wav$"),
        licence="GPL-2+",
        holder="Daniel Heck, Ronald Lamprecht and the Enigma team",
    ),
    PackageSource(
        "etw-data",
        _r("crowd", r"/crowd/crowd\d+\.wav$", r"/snd/crowd\.wav$")
        + _r("music", r"/music/back\d+\.wav$")
        + _r("dog", r"/snd/dog\.wav$")
        + _r("other", r"/snd/fischio(corto|lungo)\.wav$")
        + _r("fight", r"/snd/ouch2?\.wav$")
        # a football being kicked or hitting the post: thuds, not gunfire
        + _r("impact", r"/snd/(shoot\d?|shot|palo)\.wav$")
        + _r("vehicle", r"/intro/(engine|brake)\.wav$")
        + _r("speech", r"/snd/letsgo\.wav$"),
        note="Eat The Whistle (football): stadium crowds, whistles, kicks",
    ),
    PackageSource(
        "flare-game",
        _r("scream", r"/soundfx/(female|male)_die\.ogg$")
        + _r("fight", r"/soundfx/(female|male)_hit\.ogg$", r"/soundfx/melee_attack\.ogg$")
        + _r("door", r"/soundfx/door_open\.ogg$")
        + _r("footsteps", r"/soundfx/steps/step_(cloth|echo|leather|metal)\d\.ogg$")
        + _r("speech", r"/soundfx/npcs/(female|male)_merchant_\d+\.ogg$")
        + _r("rain", r"/environment/rain\.ogg$")
        + _r("wind", r"/environment/(wind_loop|cave_wind_loop)\.ogg$", r"/music/wind_ambient\.ogg$")
        + _r("nature", r"/environment/(bird_twitter_loop|forest_owl_loop)\.ogg$")
        + _r("water", r"/environment/river_loop\.ogg$")
        + _r("impact", r"/environment/falling_rocks\.ogg$")
        + _r("other", r"/soundfx/heartbeat\.ogg$")
        + _r("music", r"/music/[a-z_]+_theme\.ogg$"),
        note="Flare (action RPG): pain/death voices, melee, footsteps, ambience loops, music",
    ),
    PackageSource(
        "fluid-soundfont-gs",
        # the GS sound-effect samples stored in FluidR3_GS.sf2 (member = "<sf2>#<sample name>");
        # stereo pairs are taken once, from the left sample
        _r("scream", r"#Scream$")
        + _r("fight", r"#Punch$")
        + _r("gunshot", r"#Gun$")
        + _r("explosion", r"#Explosion$")
        + _r("impact", r"#(Car Crash1|Crash)$")
        + _r("door", r"#(Door|doorcreak)$")
        + _r("dog", r"#Dog Bark$")
        + _r("siren", r"#Siren$")
        + _r("footsteps", r"#FootStep$")
        + _r("applause", r"#Applause$")
        + _r("thunder", r"#Thunder\(L\)$")
        + _r("rain", r"#SeattleRain.*\(L\)$")
        + _r("water", r"#(Sea Shore|River)$")
        + _r("vehicle", r"#(Car Pass|Car Stop|Car Start|Heli|train)$")
        + _r("other", r"#(Laugh|Telephone 2|HeartBeat|Gallops|Bird2\(L\))$"),
        licence="MIT",
        note="GS sound-effect samples read out of FluidR3_GS.sf2 (short, partly looped recordings)",
    ),
    PackageSource(
        "freeciv-data",
        _r("explosion", r"/(LrgExpl|SmlExpl)\.ogg$")
        + _r("gunshot", r"/(MgBar[12]|MgHeavy)\.ogg$")
        + _r("footsteps", r"/foot3\.ogg$")
        + _r("impact", r"/(metbrk|woodbrk)\.ogg$")
        + _r("vehicle", r"/Tread\.ogg$")
        + _r("music", r"/stdmusic/"),
    ),
    PackageSource(
        "foobillardplus-data",
        _r("applause", r"/data/applause\.wav$")
        + _r("crowd", r"/data/ooh\.wav$")
        + _r("impact", r"/data/(ballinhole|balloutoftable)\.wav$"),
        note="FooBillard++ (billiards): applause, an audience's ooh, balls dropping",
    ),
    PackageSource(
        "freecol",
        # musket volleys of the dragoons; artillery, bombard and ship cannonades
        _r("gunshot", r"/resources/sound/attack/dragoon\.ogg$")
        + _r("explosion", r"/resources/sound/attack/(artillery|bombard|naval)\.ogg$"),
        note="FreeCol: cannon and musket fire (the 142 MB .deb is mostly graphics and music)",
    ),
    PackageSource(
        "freedink-data",
        # Most replacement sounds (punch, grunts, birds...) come from Battle for Wesnoth, a
        # reserved source (README-REPLACEMENTS.txt); only the scream recorded for FreeDink is used.
        _r("scream", r"/wscream\.wav$"),
        licence="WTFPL",
        note="wscream.wav only (performed by Maria Carmona Varo); the rest derives from Wesnoth",
    ),
    PackageSource(
        "freedoom",
        # sound lumps inside the WADs (see models.corpus.dmx); member = "<wad>#<LUMP>"
        _r("gunshot", r"#DS(PISTOL|SHOTGN|DSHTGN)$")
        + _r("explosion", r"#DS(BAREXP|RXPLOD)$")
        + _r("fight", r"#DS(PUNCH|PLPAIN)$")
        + _r("scream", r"#DS(PDIEHI|PLDETH)$")
        + _r("door", r"#DS(DOROPN|DORCLS|BDOPN|BDCLS)$"),
        note="sound lumps (DMX) parsed out of freedoom1.wad / freedoom2.wad",
    ),
    PackageSource(
        "gigalomania-data",
        # woodbrk.wav is Freeciv's (a val package): skipped
        _r("fight", r"/sound/pain1\.wav$")
        + _r("explosion", r"/sound/bomb\.wav$")
        + _r("vehicle", r"/sound/(biplane|jetplane)\.ogg$"),
        skip=(r"/sound/woodbrk\.wav$",),
        holder="Mark Harman; sounds: Michel Baradari, Mike Koenig, jobromedia, yd",
        note="Gigalomania: a pain cry (Michel Baradari), a bomb (Mike Koenig), biplane and jet",
    ),
    PackageSource(
        "lugaru-data",
        _r("dog", r"/Bark\d?\.ogg$")
        + _r("footsteps", r"/FootStep(Grass|Snow|Stone)\d\.ogg$")
        + _r("impact", r"/(HeavyImpact|Thud|Land\d?|Clank\d|MetalHit)\.ogg$")
        + _r("fight", r"/(WhooshHit|StaffBody|StaffHead)\.ogg$")
        + _r("wind", r"/(Wind|DesertAmbient)\.ogg$")
        + _r("music", r"/Music"),
        dep5_prefix=("usr/share/games/lugaru/", "Data/"),
    ),
    PackageSource(
        "megaglest-data",
        _r("fight", r"/(swordman|guard|stickfighter|daemon|cudgel)_attack\d*\.wav$")
        + _r("scream", rf"/{_MG_HUMANS}_die\d*\.wav$")
        + _r("speech", rf"/{_MG_HUMANS}_(ack|select)\d*\.wav$")
        + _r("impact", r"/(tech|magic)_building_fall\d*\.wav$", r"/arrow_hit\d*\.wav$")
        + _r("other", r"/(cow|pig)_(ack|die|select)\d*\.wav$", r"/sheep\d+\.wav$", r"/chicken\.wav$")
        + _r("rain", r"/tilesets/[^/]+/sounds/rain\.(ogg|wav)$")
        + _r("wind", r"/tilesets/[^/]+/sounds/wind\.ogg$")
        + _r("nature", r"/tilesets/[^/]+/sounds/(day|night|nightime|sunny_day|desertday)\.ogg$")
        + _r("music", r"/music/"),
        note="MegaGlest: unit voices, melee, death cries, tileset ambience, faction music",
    ),
    PackageSource(
        "minetest-data",
        _r("glass_break", r"/default_break_glass\.\d\.ogg$")
        + _r("footsteps", r"_footstep(\.\d)?\.ogg$")
        + _r("door", r"/doors_(door|fencegate|glass_door|steel_door)_(open|close)\.ogg$")
        + _r("door", r"/xpanes_steel_bar_door_(open|close)\.ogg$")
        + _r("explosion", r"/tnt_explode\.ogg$")
        + _r("water", r"/env_sounds_water\.\d\.ogg$")
        + _r("impact", r"/default_(dig_(choppy|cracky)|place_node_hard|dug_metal)(\.\d)?\.ogg$"),
        dep5_prefix=("usr/share/games/minetest/games/minetest_game/", "mtg/"),
    ),
    PackageSource(
        "netpanzer-data",
        # scream_1/scream_2/scream_ohgod.wav are copies of yessir.wav (a placeholder voice): not screams
        _r("gunshot", r"/sound/battle_mg1\.wav$")
        + _r("explosion", r"/sound/expl_\d\.wav$")
        + _r("vehicle", r"/sound/(hevidle|hevmov|hevstart|tankidle)\.wav$"),
        note="NetPanzer (tank battles): machine-gun bursts, explosions, tank engines",
    ),
    PackageSource(
        "openttd-opensfx",
        # entries of opensfx.cat (see models.corpus.archive.cat_sounds); member = "<cat>#<NN> <title>".
        # Mostly freesound recordings edited for OpenTTD; the Toyland (cartoon) set is left out.
        _r(
            "vehicle",
            r"\.cat#\d\d (Steam train station departure|Steam engine going in tunnel|Propeller plane start)$",
            r"\.cat#\d\d (Early|Mach 1\+|Modern) jet take off$",
            r"\.cat#\d\d (Diesel-electric|Maglev) train station departure$",
            r"\.cat#\d\d (Helicopter|Modern bus start|Old bus start|Truck-old bus start, pull away( with horn)?)$",
        )
        + _r("horn", r"\.cat#\d\d (Ship horn|Ferry horn|Modern car horn)$")
        + _r("alarm", r"\.cat#\d\d Level crossing$")
        + _r("impact", r"\.cat#\d\d (Crash|Big crash|Road vehicle breakdown|Train-ship breakdown)$")
        + _r("explosion", r"\.cat#\d\d Explosion$")
        + _r("applause", r"\.cat#\d\d Applause$")
        + _r("crowd", r"\.cat#\d\d Oooh sound$")
        + _r(
            "other",
            r"\.cat#\d\d (Factory Whistle|Mining machinery|Cash till|Jackhammer|Sawmill|Lumber mill: Chainsaw)$",
            r"\.cat#\d\d (Sheep|Cow|Horse)$",
        )
        + _r("wind", r"\.cat#\d\d (Heavy )?[Ww]ind$"),
        licence="CC-BY-SA-3.0",
        holder="OpenSFX authors (Janis Lukss, Wuzzy, Richard Wheeler; sources from freesound.org and pdsounds.org)",
        note="OpenSFX (OpenTTD base sounds): trains, planes, buses, horns, level crossing, crashes, applause",
    ),
    PackageSource(
        "redeclipse-data",
        # weapons/player/sfx are the Red Eclipse team's (CC-BY-SA-3.0+); ambience credits freesound
        # recordists and Q009's morph pack per file. The player's death and pain sounds are gore
        # splats rather than voices, the voice taunts are radio-filtered: both left out, as are the
        # sci-fi weapons (rifle, plasma, zapper, flamer), hums and machines.
        _r(
            "gunshot",
            r"/sounds/weapons/(pistol|shotgun)/(primary|secondary)\d?\.ogg$",
            r"/sounds/weapons/smg/(primary|secondary\d?)\.ogg$",
        )
        + _r("explosion", r"/sounds/weapons/(explode[23]|mine/explode\d?)\.ogg$")
        + _r("impact", r"/sounds/weapons/thud\d?\.ogg$", r"/sounds/sfx/debris\d?\.ogg$")
        + _r("footsteps", r"/sounds/player/(footstep|concstep)\d?\.ogg$")
        + _r("thunder", r"/ambience/morph/stormbolts\.ogg$")
        + _r("traffic", r"/ambience/distant_cars\.ogg$")
        + _r("rain", r"/ambience/morph/(storm)?rain\.ogg$")
        + _r(
            "wind",
            r"/ambience/(wind|blowwind|hollowwind|wastewind)\.ogg$",
            r"/ambience/morph/(stormwind|wind\d)\.ogg$",
        )
        + _r("nature", r"/ambience/(forest\d|cycadas|nightcrickets)\.ogg$")
        + _r("water", r"/ambience/(river|creek|water|waterfall|waterfall_huge)\.ogg$"),
        holder="2009-2017 Red Eclipse Team; ambience: freesound recordists and Slawek 'Q009' Blauciak",
        note="Red Eclipse (arena shooter): pistol, shotgun and SMG shots, grenade and mine blasts, steps, outdoor ambience",
    ),
    PackageSource(
        "scorched3d-data",
        _r("horn", r"/misc/carhorn\d\.wav$")
        + _r("applause", r"/misc/cheeringloop\.wav$")
        + _r("city", r"/misc/citysounds\.wav$")
        + _r("dog", r"/misc/dog\d?\.wav$")
        + _r("siren", r"/misc/(firetruck|policecar)\.wav$")
        + _r("vehicle", r"/misc/(helicopter|cessna|jet|f16_\d|f18_\d|t38|apache_1)\.wav$")
        + _r("vehicle", r"/movement/tankmove\.wav$")
        + _r("scream", r"/misc/(scream\d|screaming)\.wav$")
        + _r("other", r"/misc/(cows|moo|sheep|rooster|gull\d|birdchirp\d)\.wav$")
        + _r("explosion", r"/apoc/data/wav/explosions/(exp|tank)\.wav$")
        + _r("explosion", r"/none/data/wav/explosions/(small|medium|large|xlarge|tank)\.wav$")
        + _r("impact", r"/explosions/thud\.wav$")
        + _r("thunder", r"/(misc|explosions)/thunder\d?\.wav$")
        + _r("gunshot", r"/apoc/data/wav/shoot/(machinegun|shotgun)\.wav$")
        + _r("rain", r"/misc/rain\.wav$")
        + _r("water", r"/misc/oceanwaves\.wav$")
        + _r("nature", r"/misc/(birds\d|frogs)\.wav$")
        + _r("music", r"/music/"),
        dep5_prefix=("usr/share/games/scorched3d/", ""),
    ),
    PackageSource(
        "simutrans-pak64",
        _r("horn", r"/sound/boat-horn\.wav$")
        + _r("vehicle", r"/sound/(bus|truck|diesel|steam|planelow|comet-jet)\.wav$")
        + _r("alarm", r"/sound/crossing\.wav$")  # a level-crossing bell
        + _r("explosion", r"/sound/explosion\.wav$")
        + _r("other", r"/sound/(jackhammer|buzzsaw|tree-cutting)\.wav$")
        + _r("water", r"/sound/Water\.wav$")
        + _r("wind", r"/sound/arctic\.wav$")
        + _r("nature", r"/sound/(forest|tropic|seagulls)\.wav$"),
        note="Simutrans pak64 (transport simulation): road, rail and air traffic, horn, crossing bell, climates",
    ),
    PackageSource(
        "sonic-pi-samples",
        _r("other", r"/loop_3d_printer\.flac$", r"/misc_crow\.flac$", r"/mehackit_phone\d\.flac$")
        + _r("door", r"/perc_door\.flac$")
        + _r("impact", r"/perc_impact\d\.flac$")
        + _r(
            "music",
            r"/samples/(loop|bd|sn|drum|elec|tabla|guit|bass)_[^/]+\.flac$",
            r"/samples/ambi_(piano|choir)\.flac$",
        ),
        holder="Samuel Aaron and the Sonic Pi sample contributors",
        dep5_prefix=("usr/share/sonic-pi/", "etc/"),
        note="drum hits and loops as musical hard negatives for bangs",
    ),
    PackageSource(
        "starfighter-data",
        _r("scream", r"/sound/maledeath\.ogg$")
        + _r("explosion", r"/sound/explode\d?\.ogg$")
        + _r("vehicle", r"/sound/flyby\.ogg$"),
        note="Project: Starfighter: a man's death cry, explosions, a jet fly-by (lasers and plasma left out)",
    ),
    PackageSource(
        "torcs-data",
        # car crashes, tyre squeal and a selection of ten of the recorded race-car engines
        _r("impact", r"/data/sound/(crash\d|bottom_crash)\.wav$")
        + _r(
            "vehicle",
            r"/data/sound/(skid_tyres|935|f360|ford1b|gt40|lotus|nsx|renault-v10|viper_long|alpha-romeo)\.wav$",
        ),
        note="TORCS (racing): crashes, tyre squeal, engines",
    ),
    PackageSource(
        "triplea",
        _r(
            "gunshot",
            r"/battle_land_0[123]_(machine_gun_fire|machine_gun_with_background_fighting|infantry_being_shot_at)\.mp3$",
            r"/battle_land_05_musket_volley\.mp3$",
        )
        + _r(
            "explosion",
            r"/battle_bombard_0[12]_(echoing_)?distant_explosions\.mp3$",
            r"/bombing_strategic_02_falling_bomb_with_explosion\.mp3$",
            r"/bombing_rocket_01_rockets_launched_then_explosion\.mp3$",
        )
        + _r("fight", r"/classical/battle_land/battle_land_0[13]_sword_fighting[^/]*\.mp3$")
        + _r("siren", r"_air_raid_alarm\.mp3$")
        + _r("alarm", r"/battle_retreat_submerge_01_sub_diving_alarm\.mp3$")
        + _r("footsteps", r"/territory_capture_land_01_marching\.mp3$")
        + _r(
            "vehicle",
            r"/territory_capture_blitz_01_motor_engine_noise\.mp3$",
            r"/ww2/battle_air/battle_air_0[12]_air_(close_)?flyby\.mp3$",
        )
        + _r("water", r"/placed_sea_01_splash_and_waves\.mp3$")
        + _r(
            "other",
            r"/(chat_join_game_01_door_bell|battle_dice_rolled_01_dice_shaken_then_rolled)\.mp3$",
            r"/(chat_message_02_type_writer_short|political_action_successful_01_typewriter)\.mp3$",
            r"/(placed_infrastructure_01_sawing_wood|political_action_failure_01_paper_being_ripped)\.mp3$",
        ),
        # Its music is not used: the folder ships clips named after film scores (company_of_the_ring,
        # gladiator_entrance, ...) under Debian's blanket GPL-2+, a provenance no one can vouch for.
    ),
    PackageSource(
        "tuxfootball",
        _r("crowd", r"/sound/crowd(boo|cheer|ooh)\.wav$")
        + _r("impact", r"/sound/kick\.wav$")
        + _r("other", r"/sound/refwhistle(end|long|short|twice)\.wav$"),
        note="Tux Football: stadium crowd (boos, cheers), ball kicks, referee whistles",
    ),
    PackageSource(
        "warmux-data",
        _r("music", r"/music/", r"/disco_grenade_music\.ogg$")
        + _r("scream", r"/voices/death\d\.ogg$")
        + _r("fight", r"/voices/injured_(light|medium|high)\d\.ogg$", r"/weapons/slap\.ogg$")
        + _r("explosion", r"/weapons/(explosion\d|dynamite_exp|riot_bomb_exp)\.ogg$")
        + _r("gunshot", r"/weapons/(gun|m16|shotgun)\.ogg$")
        + _r("impact", r"/weapons/(anvil_collision|baseball)\.ogg$", r"/misc/box_hitting_ground\.ogg$")
        + _r("footsteps", r"/misc/step\.ogg$")
        + _r("vehicle", r"/weapons/aircraft_flying\.ogg$"),
        licence="GPL-2+",
        holder="2001-2011 the WarMUX (Wormux) team and contributors",
    ),
    PackageSource(
        "wordwarvi-sound",
        # the voices are recorded at a low rate (aliased); synthetic_* sounds are left out
        _r("scream", r"/sounds/(aaaah_it_burns|fallingscreamhi)\.ogg$")
        + _r("fight", r"/sounds/(ooooof|ow_my_spine)\.ogg$")
        + _r("explosion", r"/sounds/(big_explosion|bombexplosion|missile_explosion)\.ogg$")
        + _r("impact", r"/sounds/(metal|stone)bang[1-4]\.ogg$", r"/sounds/(clang|new_ground_smack)\.ogg$")
        + _r("door", r"/sounds/toyota_celica_cardoor_sample\.ogg$")
        + _r("speech", r"/sounds/help_(down|up)_here\.ogg$"),
        note="Word War vi: pain and falling screams, explosions, metal and stone bangs, a car door",
    ),
    PackageSource(
        "unknown-horizons",
        _r("crowd", r"/content/audio/sounds/(main_square|tavern)\.ogg$")
        + _r("impact", r"/content/audio/sounds/smith\.ogg$")
        + _r("other", r"/content/audio/sounds/(ships_bell|chapel)\.ogg$")
        + _r("speech", r"/content/audio/voice/(de|en|fr)/0/new_world/\d\.ogg$"),
        note="Unknown Horizons: market square and tavern crowds, smithy, bells, narrated speech",
    ),
    PackageSource(
        "ufoai-sound",
        # sounds inside base/0snd.pk3 (zip); member = "<pk3>#sound/..."
        _r("glass_break", r"#sound/misc/breakglass\d+\.ogg$")
        + _r("scream", r"#sound/civilians/civfemscream\d+a\.ogg$")
        + _r("scream", r"#sound/(civilians|soldiers)/(civfem|civmale|female|male)death\d+a?\.ogg$")
        + _r("fight", r"#sound/(civilians|soldiers)/(civfem|civmale|female|male)hurt\d+a?\.ogg$")
        + _r(
            "gunshot",
            r"#sound/weapons/bullet-(pistol2?|rifle(-\d+x)?|smg(-\d+x)?|shotgun(-3x|mini)?|sniper)\.ogg$",
            r"#sound/weapons/bullet-(hmg|chaingun)-\d+x\.ogg$",
        )
        + _r("explosion", r"#sound/weapons/explosion(-grenade|-rocket)?\.ogg$")
        + _r("door", r"#sound/doors/door\d-(open|close)\.ogg$")
        + _r(
            "footsteps",
            r"#sound/footsteps/(carpet|dirt|grass|gravel|sand|snow|stone|tile|wood|metal|linoleum)\d*\.ogg$",
        )
        + _r("thunder", r"#sound/ambience/thunder\d\.ogg$")
        + _r("city", r"#sound/ambience/(city_abnd_ufoai_atm|sand-city)\.ogg$")
        + _r("water", r"#sound/ambience/(water\d*|waterfontain)\.ogg$")
        + _r("wind", r"#sound/ambience/arcticwind\.ogg$")
        + _r("nature", r"#sound/ambience/cricket_loop\.ogg$")
        + _r("indoor", r"#sound/ambience/(hum2?|lights_loop|machine1)\.ogg$")
        + _r("impact", r"#sound/misc/break(wood|metal)\d+\.ogg$")
        + _r("vehicle", r"#sound/ugv/diesel-(idle|move)\.ogg$"),
        note="UFO: Alien Invasion; files whose copyright stanza names OpenArena or Nexuiz are skipped",
    ),
    # -- added for 2.2.0 (surveyed 2026-12-01): explosions, multilingual speech, everyday sounds
    PackageSource(
        "armagetronad",
        _r("explosion", r"/armagetronad/sound/expl\.wav$"),
        note="Armagetron Advanced: the crash explosion",
    ),
    PackageSource(
        "bomberclone-data",
        _r("explosion", r"/bomberclone/tileset/default/explode\.wav$"),
        licence="GPL-2",
        holder="Steffen Pohle, Patrick Wilczek, TekkRat",
        note="BomberClone: a bomb explosion",
    ),
    PackageSource(
        "extremetuxracer-data",
        _r("impact", r"/etr/sounds/tree_hit\.wav$")
        + _r("other", r"/etr/sounds/(grass|ice|leaves|mud|rock|snow)_slide\.wav$"),
        note="Extreme Tux Racer: a tree hit, sliding over six surfaces",
    ),
    PackageSource(
        "freeorion-data",
        _r("explosion", r"/data/sound/combat/explosion-(heavy|med|light)1\.ogg$"),
        note="FreeOrion: three long produced explosions",
    ),
    PackageSource(
        "frozen-bubble-data",
        _r("applause", r"/frozen-bubble/snd/applause\.ogg$")
        + _r("other", r"/frozen-bubble/snd/(snore|typewriter)\.ogg$"),
        note="Frozen-Bubble: applause, a snore, a typewriter",
    ),
    PackageSource(
        "granatier",
        _r("explosion", r"/granatier/sounds/explode\.wav$"),
        note="Granatier (KDE): a bomb explosion",
    ),
    PackageSource(
        "hex-a-hop-data",
        _r("explosion", r"/hex-a-hop/sound-explode-(big|small)\.ogg$"),
        dep5_prefix=("usr/share/games/hex-a-hop/hex-a-hop/", "data/"),
        note="Hex-a-hop: two explosions (public domain)",
    ),
    PackageSource(
        "ksirk",
        _r("gunshot", r"/ksirk/skins/default/sounds/cannon\.wav$"),
        note="KsirK (KDE): a cannon firing",
    ),
    PackageSource(
        "ktuberling-data",
        _r("speech", r"/ktuberling/sounds/[^/]+/[^/]+\.(ogg|wav)$"),
        note="KTuberling (KDE): single spoken words in 25 languages, many speakers",
    ),
    PackageSource(
        "lbreakout2-data",
        _r("explosion", r"/lbreakout2/sounds/exp\.wav$")
        + _r("speech", r"/lbreakout2/sounds/(dammit|damn|excellent|verygood|wontgiveup)\.wav$"),
        licence="GPL",
        holder="2000 Michael Speck",
        note="LBreakout2: a brick explosion, five short exclamations",
    ),
    PackageSource(
        "lmms-common",
        _r("applause", r"/lmms/samples/misc/applause01\.ogg$")
        + _r("crowd", r"/lmms/samples/misc/raving_crowd01\.ogg$"),
        licence="GPL-2+",
        holder="LMMS developers",
        note="LMMS's sample library: applause and a crowd (its beats and loops are left out)",
    ),
    PackageSource(
        "mirrormagic-data",
        _r("explosion", r"/sounds/snd_classic/(booom|kabumm)\.wav$")
        + _r("door", r"/sounds/snd_classic/door\.wav$")
        + _r("other", r"/sounds/snd_classic/lachen\.wav$"),
        note="Mirror Magic (Artsoft classic set): two explosions, a door, laughter",
    ),
    PackageSource(
        "monsterz-data",
        # boing/ding/duh/grunt/laugh/whip are reworked Wesnoth sounds (reserved): never matched
        _r("applause", r"/monsterz/sound/applause\.wav$"),
        licence="LGPL-2.1",
        holder="Sun Microsystems, Inc. (OpenOffice.org's applause.wav)",
        note="Monsterz: applause only",
    ),
    PackageSource(
        "neverball-common",
        _r(
            "speech",
            r"/neverball/snd/(gd/)?(birdie|bogey|double|eagle|one|par|penalty|player[1-4]|success|fall|go"
            r"|over|ready|record|select|set|time)\.ogg$",
        ),
        note="Neverball/Neverputt: announcer voice clips (English and Scottish Gaelic)",
    ),
    PackageSource(
        "penguin-command",
        _r("explosion", r"/penguin-command/sound/(bombex|missex)\.wav$"),
        licence="GPL-2+",
        holder="Karl Bartel",
        note="Penguin Command: a bomb and a missile exploding",
    ),
    PackageSource(
        "powermanga-data",
        # the small explosions are band-limited and partly byte-identical: left out
        _r("explosion", r"/powermanga/sounds/sound_(big|medium)_explosion_\d\.wav$"),
        note="Powermanga: eight sampled explosions",
    ),
    PackageSource(
        "ri-li-data",
        _r("impact", r"/ri-li/sounds/crash\.wav$"),
        note="Ri-li: a toy train crashing",
    ),
    PackageSource(
        "spacezero",
        _r("explosion", r"/spacezero/sounds/explos\.wav$"),
        # its copyright file is DEP-5 in the pre-standard format (dep.debian.net/deps/dep5)
        licence="GPL-3+",
        holder="2006-2011 M. Revenga",
        note="SpaceZero: a sustained explosion",
    ),
    PackageSource(
        "stormbaancoureur-data",
        _r("vehicle", r"/stormbaancoureur/sounds/camaro_s16_le\.wav$"),
        licence="GPL-3",
        holder="2006-2008 Bram Stolk",
        note="Stormbaan Coureur: a car engine recording",
    ),
    PackageSource(
        "pygame",
        _r("explosion", r"/examples/data/boom\.wav$")
        + _r("door", r"/examples/data/car_door\.wav$")
        + _r("fight", r"/examples/data/punch\.wav$")
        + _r("music", r"/examples/data/(house_lo\.ogg|secosmic_lo\.wav)$"),
        kind="wheel",
        licence="LGPL-2.1+",
        holder="pygame contributors (https://www.pygame.org)",
        note="PyPI wheel (pip download --no-deps pygame): pygame/examples/data",
    ),
)

SOURCE_BY_NAME: dict[str, PackageSource] = {s.name: s for s in SOURCES}

# Checked and not used (package -> why); printed in the README.
REJECTED: dict[str, str] = {
    "widelands-data": "381 MB .deb; work and animal sounds, many of unknown origin and licence in its own wl-sound-docu.csv",
    "blobwars-data": "sound files have no extension (would need format sniffing); cartoon blobs",
    "tuxmath-data": "Tux4Kids sounds, likely shared with the reserved tuxtype-data",
    "atanks-data": "sounds are numbered (00.wav ... 40.wav): no path to label them by",
    "marsshooter-data": "cartoon and sci-fi effects, announcer; music",
    "asterisk-core-sounds-*": "Debian 12 has only en (reserved), es, fr, it and ru, all four already used",
    "naev-data": "350 MB .deb; space-game effects",
    "ufoai-music": "210 MB .deb of music; ufoai-sound is used",
    "kobodeluxe-data": "no audio files (its sounds are synthesised at run time)",
    "pingus-data": "cartoon voices and plops only",
    "crossfire-client-sounds": "not in Debian 12 (crossfire-client ships the sounds)",
    # surveyed for 2.2.0 (2026-12-01)
    "arcade (PyPI)": "its 61 CC0 sounds are synthetic retro effects, explosions included",
    "noiz2sa/rrootage/parsec47/torus-trooper/tumiki-fighters/gunroar/titanion/mu-cade-data": (
        "Kenta Cho's shooters: every effect is synthesised noise; music only"
    ),
    "knavalbattle": "its shot sounds hold the shot and the hit in one file; splash and sinking likewise",
    "xblast-tnt-sounds": "headerless .raw PCM files",
    "trigger-rally-data": "every sound is inside data.zip (engine, wind, gravel, co-driver calls)",
    "pokerth-data": "byte-identical chip clatter and UI beeps",
    "klettres-data": "spoken single letters and syllables (ktuberling-data's words are used instead)",
    "flightgear-data-base": "1.34 GB .deb",
    "kapman/kblocks/kbounce/kdiamond/kollision/kgoldrunner/tecnoballz-data": "UI and cartoon blips",
    "abuse-sfx/abuse-frabs/methane/violetland-data": "not in Debian 12",
    "beneath-a-steel-sky/flight-of-the-amazon-queen/lure-of-the-temptress": "audio packed in game archives",
}


def source(name: str) -> PackageSource:
    """The source called ``name``; refuses reserved packages and names unknown ones."""
    if name in RESERVED_PACKAGES:
        raise ValueError(f"package {name!r} is reserved for the independent evaluation and is never used")
    try:
        return SOURCE_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(SOURCE_BY_NAME))
        raise KeyError(f"unknown corpus package {name!r} (known: {known})") from None


def is_audio(member: str) -> bool:
    """Whether ``member`` is an audio file."""
    return member.lower().endswith(AUDIO_SUFFIXES)


def is_container(member: str) -> bool:
    """Whether ``member`` is an archive that may hold sounds (WAD, pk3)."""
    return member.lower().endswith(CONTAINER_SUFFIXES)
